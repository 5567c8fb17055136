"""Pretraining recipe runner: train a named config, report held-out perplexity and tokens/s.

    python scripts/pretrain_lm.py --config=gpt_clm_small --workdir=/tmp/pretrain_gpt \
        --name=pretrain_gpt_clm [--override=num_steps=600] [--export_dir=DIR]

Writes benchmarks/results/<name>.json and .md (exact command, UTC date, machine). The held-out
set is the last 5% of each corpus file (WikiText-2 valid, Tiny Shakespeare), never trained on.
Re-running the same command resumes from the workdir's checkpoints.
"""
import datetime
import json
import os
import shlex
import sys
import time

from absl import app, flags

import keras_llm  # noqa: F401  (forces the TensorFlow backend)
from keras_llm.utils.machine import machine_info

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "Named training config.")
flags.DEFINE_string("workdir", None, "Training workdir (checkpoints, vocabulary).")
flags.DEFINE_string("name", None, "Result file stem under benchmarks/results/.")
flags.DEFINE_multi_string("override", [], "key=value config overrides.")
flags.DEFINE_string("export_dir", None, "Also save the backbone as a preset here "
                    "(BertBackbone.from_preset(DIR) / GptBackbone.from_preset(DIR) load it).")
flags.mark_flags_as_required(["config", "workdir", "name"])

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_results(summary: dict) -> None:
    out = os.path.join(ROOT, "benchmarks", "results", FLAGS.name)
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    ev = summary["held_out"]
    if ev is None:
        raise ValueError("evaluation measured nothing (see the warning above); no result written.")
    lines = [f"# {FLAGS.name}", "", f"Command: `{summary['command']}`", "",
             f"Date (UTC): {summary['date_utc']}; machine: {summary['machine']}", "",
             "| metric | value |", "|---|---|",
             f"| objective | {summary['objective']} |",
             f"| model | {summary['model']} |",
             f"| tokenizer | {summary['tokenizer']} |",
             f"| steps x global batch x seq | {summary['steps']} x {summary['global_batch_size']}"
             f" x {summary['sequence_length']} |",
             f"| held-out loss (nats/target token) | {ev['loss']:.4f} |",
             f"| held-out perplexity | {ev['perplexity']:.2f} |",
             f"| held-out accuracy (top-1) | {ev['accuracy']:.4f} |",
             f"| held-out target tokens | {int(ev['target_tokens'])} |",
             f"| training tokens/s (steady state) | {summary['tokens_per_second']:.0f} |",
             f"| wall time (s, this process) | {summary['wall_seconds']:.0f} |", "",
             summary["note"], ""]
    with open(out + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main(argv):
    del argv
    from keras_llm import training  # pylint: disable=import-outside-toplevel
    config = training.override(training.get_config(FLAGS.config), FLAGS.override)
    start = time.time()
    result = training.train(config, FLAGS.workdir)
    wall = time.time() - start
    note = ("Perplexity is over the next token (CLM)." if config.objective == "clm" else
            "MLM perplexity = exp(cross-entropy on the 15% masked positions), not comparable "
            "to a causal LM's perplexity.")
    summary = {
            "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(), "objective": config.objective,
            "model": {k: getattr(config.model, k) for k in (
                    "kind", "num_layers", "num_heads", "hidden_dim", "intermediate_dim")},
            "tokenizer": f"{config.tokenizer.kind} {config.tokenizer.vocabulary_size}",
            "steps": result.step, "resumed_from": result.resumed_from,
            "global_batch_size": config.global_batch_size,
            "sequence_length": config.data.sequence_length,
            "held_out": result.eval_metrics, "tokens_per_second": result.tokens_per_second,
            "wall_seconds": wall, "train_loss_last": result.losses[-1]["loss"] if result.losses else None,
            "data": {"train_files": list(config.data.train_files),
                     "held_out": f"last {config.data.eval_fraction:.0%} of each file"},
            "note": note}
    write_results(summary)
    if FLAGS.export_dir:
        from keras_llm.training import trainer  # pylint: disable=import-outside-toplevel
        trainer.save_preset(result, FLAGS.workdir, FLAGS.export_dir)


if __name__ == "__main__":
    app.run(main)
