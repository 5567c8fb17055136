"""Result files under benchmarks/results/: PREFIX.json (the record) and PREFIX.md (readable),
each with the exact command, the UTC date and the machine (keras_llm.utils.machine)."""
import datetime
import json
import pathlib
import sys
from typing import Iterable, Mapping


def command_line() -> str:
    """How this process was started: `python -m package.module --flags` or the script."""
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    program = f"python -m {spec.name}" if spec and spec.name else sys.argv[0]
    return " ".join([program] + sys.argv[1:])


def new_record(**fields) -> dict:
    from keras_llm.utils.machine import machine_info  # pylint: disable=import-outside-toplevel
    return {"command": command_line(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(), **fields}


def write(prefix, record: Mapping, title: str, metrics: Mapping,
          notes: Iterable[str] = ()) -> None:
    """PREFIX.json = `record`; PREFIX.md = title, date, machine, command, a metric table and
    `notes` (Markdown lines)."""
    prefix = pathlib.Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(record, indent=2, ensure_ascii=False)
                                           + "\n", encoding="utf-8")
    lines = [f"# {title}", "", f"Date: {record['date']}  ", f"Machine: {record['machine']}  ",
             f"Command: `{record['command']}`", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in metrics.items()]
    lines += ["", *notes] if notes else []
    prefix.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def training_run(workdir) -> dict:
    """{"config", "evals"} of a keras_llm.train workdir (its config.json and the evaluation
    records of history.jsonl), for result files; {} without a workdir."""
    if not workdir:
        return {}
    workdir = pathlib.Path(workdir)
    config, history = workdir / "config.json", workdir / "history.jsonl"
    records = [json.loads(line) for line in history.read_text(encoding="utf-8").splitlines()
               ] if history.is_file() else []
    return {"config": json.loads(config.read_text(encoding="utf-8")) if config.is_file()
            else None, "evals": [r for r in records if "eval" in r]}
