"""LoRA against full fine-tuning of MiniLM on SST-2, side by side: trainable parameters, dev
accuracy (from each workdir's final evaluation and through each float32 SavedModel), seconds
per training step, and the exported graphs' op lists.

    python -m apps.sentiment.train --config=minilm --workdir=/tmp/sst2_full
    python -m apps.sentiment.train --config=minilm --workdir=/tmp/sst2_lora \\
        --override=finetune.lora_rank=8 --override=finetune.optimizer.learning_rate=5e-4
    python -m benchmarks.lora --full_workdir=/tmp/sst2_full --lora_workdir=/tmp/sst2_lora

Step time: both models are built in this process from each workdir's config (the LoRA one
with its adapters enabled, as its run trained it), compiled with the library's optimizer, and
trained on the same --steps SST-2 batches of 32 (length-bucketed as in training); each round
times one pass of every model in rotation (A B A B ...), after a warm-up pass; medians over
--repeats rounds. Writes benchmarks/results/lora_sentiment.json and .md (or --output_prefix).
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full_workdir", required=True)
    parser.add_argument("--lora_workdir", required=True)
    parser.add_argument("--steps", type=int, default=8, help="training batches per timed pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output_prefix", default="benchmarks/results/lora_sentiment")
    return parser.parse_args()


def _trainable(workdir):
    """(task, compiled model as its run trained it, first batches)."""
    from apps.sentiment.task import SentimentTask  # pylint: disable=import-outside-toplevel
    from keras_llm.finetune import loop  # pylint: disable=import-outside-toplevel
    from keras_llm.models import lora  # pylint: disable=import-outside-toplevel
    from keras_llm.training.optimizer import ReduceThenClipAdamW, build_optimizer  # pylint: disable=import-outside-toplevel
    from keras_llm.utils.config import from_dict  # pylint: disable=import-outside-toplevel
    config = json.loads((pathlib.Path(workdir) / loop.CONFIG_FILE).read_text())
    task = SentimentTask(from_dict(SentimentTask.CONFIG_CLASS, config))
    finetune = task.finetune_config
    model = task.build_model(workdir, for_training=True)
    if finetune.lora_rank:
        lora.enable_lora(model, finetune.lora_rank, finetune.lora_alpha or None,
                         finetune.lora_targets)
    optimizer = build_optimizer(finetune.optimizer, 1000, model, "float32",
                                optimizer_class=ReduceThenClipAdamW)
    model.compile(optimizer=optimizer, loss=task.loss())
    return task, model


def _op_names(path):
    from keras_llm import export  # pylint: disable=import-outside-toplevel
    return sorted(export.check(path).ops)


def main():
    args = _parse()
    import subprocess  # pylint: disable=import-outside-toplevel
    from keras_llm.finetune import loop  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import report  # pylint: disable=import-outside-toplevel
    workdirs = {"full": args.full_workdir, "lora": args.lora_workdir}
    metrics_files = {k: json.loads((pathlib.Path(w) / loop.METRICS_FILE).read_text())
                     for k, w in workdirs.items()}
    models, batches = {}, None
    for name, workdir in workdirs.items():
        task, models[name] = _trainable(workdir)
        if batches is None:
            dataset = task.train_batches(workdir).dataset(0, args.steps)
            batches = list(dataset.take(args.steps))
    counts = {}
    from keras_llm.models import lora  # pylint: disable=import-outside-toplevel
    for name, model in models.items():
        counts[name] = lora.parameter_counts(model)

    def one_pass(model):
        start = time.perf_counter()
        for features, labels in batches:
            model.train_on_batch(features, labels)
        return (time.perf_counter() - start) / len(batches)

    for model in models.values():
        one_pass(model)
    times = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            times[name].append(one_pass(model))
    step = {name: statistics.median(values) for name, values in times.items()}
    temp = pathlib.Path(tempfile.mkdtemp(prefix="bench_lora_"))
    saved, ops, accuracy = {}, {}, {}
    for name, workdir in workdirs.items():
        subprocess.run([sys.executable, "-m", "apps.sentiment.export", f"--workdir={workdir}",
                        f"--base_dir={temp / name}"], check=True, capture_output=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        saved[name] = temp / name / "1"
        ops[name] = _op_names(saved[name])
        from apps.sentiment.task import SentimentTask  # pylint: disable=import-outside-toplevel
        task = SentimentTask(SentimentTask.CONFIG_CLASS())
        accuracy[name] = task.evaluate_saved_model(saved[name])["accuracy"]
    results = {name: {"trainable_parameters": counts[name]["trainable"],
                      "total_parameters": counts[name]["total"],
                      "trainable_percent": round(100 * counts[name]["trainable"]
                                                 / counts[name]["total"], 3),
                      "dev_accuracy_workdir": metrics_files[name].get("dev_accuracy"),
                      "dev_accuracy_saved_model": round(accuracy[name], 4),
                      "seconds_per_step": round(step[name], 4),
                      "train_steps": metrics_files[name].get("train_steps"),
                      "train_seconds": metrics_files[name].get("train_seconds"),
                      "command": metrics_files[name].get("command")}
               for name in workdirs}
    table = {f"{name}, {key}": value for name, r in results.items() for key, value in r.items()
             if key != "command"}
    table["lora / full seconds per step"] = round(step["lora"] / step["full"], 3)
    table["exported op lists identical"] = ops["full"] == ops["lora"]
    record = report.new_record(workdirs=workdirs, results=results,
                               step_ratio=table["lora / full seconds per step"],
                               ops_identical=ops["full"] == ops["lora"],
                               ops={"full": ops["full"], "lora_only": sorted(
                                       set(ops["lora"]) - set(ops["full"]))},
                               timing={"steps": len(batches), "repeats": args.repeats,
                                       "seconds_per_step": times})
    notes = ["Both models trained on the same SST-2 batches of 32 in this process (A B A B, "
             f"{args.repeats} rounds of {len(batches)} steps after a warm-up pass, median). "
             "Exports are float32 (`apps.sentiment.export` with no flag): the LoRA run's "
             "model.weights.h5 holds the merged kernels, so its graph is the full one's."]
    report.write(args.output_prefix, record, "LoRA (rank 8) vs full fine-tuning, MiniLM on "
                 "SST-2", table, notes)
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
