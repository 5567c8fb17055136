"""Collects SST-2 dev accuracies of the sentiment app into benchmarks/results/<name>.*

    python scripts/sentiment_sst2_results.py --minilm_workdir=RUNS/minilm \
        --small_workdir=RUNS/small --saved_model=RUNS/export/1 --name=sentiment_sst2_finetune

Reads each workdir's metrics.json (dev accuracy measured by apps.sentiment.train, training
time, the train command) and re-measures the shipped SavedModel's dev accuracy through its
`serving_default` signature (raw text, in-graph tokenizer). Full pipeline: scripts/sentiment_sst2.sh.
"""
import datetime
import json
import os
import pathlib
import sys

from absl import app
from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import keras_llm  # noqa: E402,F401
from apps.sentiment.task import SentimentTask  # noqa: E402
from keras_llm.finetune import loop  # noqa: E402
from keras_llm.utils.machine import machine_info  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("minilm_workdir", None, "Workdir of the MiniLM fine-tune.", required=True)
flags.DEFINE_string("small_workdir", None, "Workdir of the shipped small model.", required=True)
flags.DEFINE_string("saved_model", "saved_models/sentiment/1", "Exported small model.")
flags.DEFINE_multi_string("other_run", [], "NAME=WORKDIR of a further run to report (earlier "
                          "stages, attempts that did not improve); repeatable.")
flags.DEFINE_multi_string("note", [], "Extra lines for the Markdown report.")
flags.DEFINE_string("name", "sentiment_sst2", "Result file stem under benchmarks/results/.")
RESULTS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "results"
GOALS = {"minilm": 0.90, "small": 0.82}


def run_entry(name, workdir, goal=None):
    workdir = pathlib.Path(workdir)
    metrics = json.loads((workdir / loop.METRICS_FILE).read_text())
    config = json.loads((workdir / loop.CONFIG_FILE).read_text())
    return {"model": name, "workdir": str(workdir),
            "dev_accuracy": round(metrics["dev_accuracy"], 4), "goal": goal,
            "goal_met": None if goal is None else metrics["dev_accuracy"] >= goal,
            "train_seconds": metrics["train_seconds"],
            "train_examples": metrics.get("train_examples", "not recorded"),
            "train_steps": metrics["train_steps"], "command": metrics.get("command", ""),
            "config": config}


def main(argv):
    del argv
    runs = [run_entry("minilm", FLAGS.minilm_workdir, GOALS["minilm"]),
            run_entry("small", FLAGS.small_workdir, GOALS["small"])]
    other_runs = [run_entry(*_name_and_workdir(spec)) for spec in FLAGS.other_run]
    saved = SentimentTask(SentimentTask.CONFIG_CLASS()).evaluate_saved_model(FLAGS.saved_model)
    size = sum(p.stat().st_size for p in pathlib.Path(FLAGS.saved_model).rglob("*") if p.is_file())
    args = [a for a in sys.argv[1:] if not a.startswith("--note")]  # notes are shown below
    report = {"command": "python scripts/sentiment_sst2_results.py " + " ".join(args),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "load_average": [round(x, 2) for x in os.getloadavg()],
              "runs": runs, "other_runs": other_runs,
              "saved_model": {"path": FLAGS.saved_model, "dev_accuracy": round(saved["accuracy"], 4),
                              "size_mb": round(size / 2**20, 2),
                              "measured_by": "serving_default on raw dev text (in-graph tokenizer)"},
              "notes": FLAGS.note}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{FLAGS.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / f"{FLAGS.name}.md").write_text(markdown(report))
    print(json.dumps(report, indent=1))


def _name_and_workdir(spec):
    name, sep, workdir = spec.partition("=")
    if not sep or not name or not workdir:
        raise app.UsageError(f"--other_run must be NAME=WORKDIR, got {spec!r}.")
    return name, workdir


def markdown(report):
    lines = ["# Sentiment: SST-2 dev accuracy (872 sentences)", "",
             f"Date: {report['date']}  ", f"Machine: {report['machine']}  ",
             f"Load average (1/5/15 min) when collected: {report['load_average']}  ",
             f"Collected by: `{report['command']}`", "",
             "| model | dev accuracy | goal | training time (s) | train examples / steps |",
             "|---|---|---|---|---|"]
    for r in report["runs"]:
        lines.append(f"| {r['model']} | {r['dev_accuracy']:.4f} | >= {r['goal']} "
                     f"({'met' if r['goal_met'] else 'NOT met'}) | {r['train_seconds']} | "
                     f"{r['train_examples']} / {r['train_steps']} |")
    if report["other_runs"]:
        lines += ["", "Other runs (earlier stages and attempts not selected):", "",
                  "| run | dev accuracy | training time (s) | train examples / steps |",
                  "|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['dev_accuracy']:.4f} | {r['train_seconds']} | "
                  f"{r['train_examples']} / {r['train_steps']} |" for r in report["other_runs"]]
    saved = report["saved_model"]
    lines += ["", f"SavedModel `{saved['path']}` ({saved['size_mb']} MB): dev accuracy "
              f"{saved['dev_accuracy']:.4f}, {saved['measured_by']}.", "", "Commands:", ""]
    lines += [f"- {r['model']}: `{r['command']}`"
              for r in report["runs"] + report["other_runs"]]
    lines += [""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    app.run(main)
