"""int8 against float32 SavedModels of the same trained workdir, side by side in one run:
size on disk, the task's metric through the SavedModel, latency in process (batch 1 and 32)
and through keras-llm-serve (gRPC, batch 1).

    flock /tmp/bench.lock python -m benchmarks.efficiency --task=sentiment --workdir=W
    python -m benchmarks.efficiency --task=ner --workdir=W --modes=int8,int8_int4_embeddings
    python -m benchmarks.efficiency --task=ner --workdir=TEACHER --student_workdir=STUDENT \
        --modes=int8 --output_prefix=benchmarks/results/distill_ner

Each mode is exported with the app's own `export --quantize=MODE` into a temporary folder
(float32 = no flag). Latency: --repeats rounds, each timing every model once in rotation
(A B C ... A B C) after a warm-up call; medians reported, with ratios to float32. The texts
are the task's dev split. Writes benchmarks/results/efficiency_<task>.json and .md (or
--output_prefix). With --student_workdir (e.g. a distilled model of the same task) its exports
in every mode join the rotation as `student_<mode>`; ratios are to the float32 teacher.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
TASKS = {"sentiment": ("apps.sentiment", "SentimentTask", "dev"),
         "ner": ("apps.ner", "NERTask", "valid"),
         "qa": ("apps.qa", "QATask", "dev")}


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--workdir", required=True, help="the app's trained workdir")
    parser.add_argument("--modes", default="int8", help="quantization modes beside float32")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--server_calls", type=int, default=30)
    parser.add_argument("--output_prefix", default=None)
    parser.add_argument("--student_workdir", default=None,
                        help="a second trained workdir of the task (e.g. a distilled student)")
    parser.add_argument("--export_flags", default="",
                        help="extra flags for every export, comma-separated, e.g. "
                             "--prune_vocabulary")
    return parser.parse_args()


def _size(path):
    return sum(p.stat().st_size for p in pathlib.Path(path).rglob("*") if p.is_file())


def _export(package, workdir, base_dir, mode, extra=()):
    command = [sys.executable, "-m", f"{package}.export", f"--workdir={workdir}",
               f"--base_dir={base_dir}"] + ([f"--quantize={mode}"] if mode else []) + list(extra)
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True,
                   env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    return pathlib.Path(base_dir) / "1"


def _time_rotation(calls, repeats):
    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    args = _parse()
    import importlib  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from keras_llm.serving import Client  # pylint: disable=import-outside-toplevel
    from keras_llm.serving.demo import _free_port, _wait_available, write_config  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import report  # pylint: disable=import-outside-toplevel
    package, class_name, split = TASKS[args.task]
    task_class = getattr(importlib.import_module(f"{package}.task"), class_name)
    task = task_class(task_class.CONFIG_CLASS())
    temp = pathlib.Path(tempfile.mkdtemp(prefix="bench_efficiency_"))
    quantizations = ["float32"] + [m for m in args.modes.split(",") if m]
    extra = [f for f in args.export_flags.split(",") if f]
    runs = {m: (args.workdir, m) for m in quantizations}
    if args.student_workdir:
        runs.update({f"student_{m}": (args.student_workdir, m) for m in quantizations})
    modes = list(runs)
    paths = {name: _export(package, workdir, temp / name, "" if m == "float32" else m, extra)
             for name, (workdir, m) in runs.items()}
    rows = {m: {"mode": m, "size_bytes": _size(p)} for m, p in paths.items()}
    for mode, path in paths.items():
        rows[mode]["metrics"] = task.evaluate_saved_model(path, split)
        print(mode, rows[mode], flush=True)

    # In process: serving_default on dev texts.
    inputs_of = {1: None, 32: None}
    sample = task.predict_inputs(_dev_texts(task, split, 32))
    loaded = {m: tf.saved_model.load(str(p)).signatures["serving_default"]
              for m, p in paths.items()}
    for batch in inputs_of:
        inputs = {k: tf.constant(v[:batch]) for k, v in sample.items()}
        medians = _time_rotation({m: (lambda f=f: f(**inputs)) for m, f in loaded.items()},
                                 args.repeats)
        for mode, seconds in medians.items():
            rows[mode][f"in_process_ms_batch{batch}"] = round(1000 * seconds, 2)

    # Through keras-llm-serve: every mode as its own model, one server.
    write_config({m: p.parent for m, p in paths.items()}, temp / "models.config")
    grpc_port, rest_port = _free_port(), _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "keras_llm.serving.main",
                             f"--port={grpc_port}", f"--rest_api_port={rest_port}",
                             f"--model_config_file={temp / 'models.config'}"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    try:
        _wait_available(f"127.0.0.1:{rest_port}", modes, proc, 600)
        client = Client(f"127.0.0.1:{grpc_port}")
        one = {k: v[:1] for k, v in sample.items()}
        medians = _time_rotation(
                {m: (lambda m=m: [client.predict(m, one) for _ in range(args.server_calls)])
                 for m in modes}, args.repeats)
        for mode, seconds in medians.items():
            rows[mode]["server_grpc_ms_batch1"] = round(1000 * seconds / args.server_calls, 2)
    finally:
        proc.terminate()
        proc.wait(60)

    base = rows["float32"]
    for mode in modes:
        row = rows[mode]
        row["size_ratio"] = round(row["size_bytes"] / base["size_bytes"], 3)
        for key in ("in_process_ms_batch1", "in_process_ms_batch32", "server_grpc_ms_batch1"):
            row[f"{key}_ratio"] = round(row[key] / base[key], 3)
    record = report.new_record(task=args.task, workdir=args.workdir, split=split,
                               student_workdir=args.student_workdir, export_flags=extra,
                               repeats=args.repeats, rows=list(rows.values()))
    table = {}
    for mode, row in rows.items():
        metric = {k: v for k, v in row["metrics"].items() if isinstance(v, float)}
        table[mode] = (f"{row['size_bytes'] / 1e6:.1f} MB ({row['size_ratio']}x); {metric}; "
                       f"in process b1 {row['in_process_ms_batch1']} ms "
                       f"({row['in_process_ms_batch1_ratio']}x), b32 "
                       f"{row['in_process_ms_batch32']} ms "
                       f"({row['in_process_ms_batch32_ratio']}x); keras-llm-serve gRPC b1 "
                       f"{row['server_grpc_ms_batch1']} ms ({row['server_grpc_ms_batch1_ratio']}x)")
    report.write(args.output_prefix or f"benchmarks/results/efficiency_{args.task}", record,
                 f"int8 vs float32 SavedModels: {args.task}"
                 + (" (teacher and student)" if args.student_workdir else ""), table)


def _dev_texts(task, split, count):
    """`count` raw inputs of the dev split, as the app's predict would send them."""
    examples = task._split(split)  # pylint: disable=protected-access
    if isinstance(examples, tuple):  # sentiment: (texts, labels)
        return list(examples[0][:count])
    if hasattr(examples[0], "question"):  # QA: "question<TAB>context", as predict reads them
        return [f"{e.question}\t{e.context}" for e in examples[:count]]
    return [" ".join(e.words) for e in examples[:count]]  # NER sentences


if __name__ == "__main__":
    main()
