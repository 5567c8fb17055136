"""Validation loss of a generation SavedModel in nats per character, through its `score`
signature, on the last 10% of Tiny Shakespeare (nanoGPT's split); plus sampled lines.

    python -m apps.generate.evaluate --saved_model=saved_models/generation \\
        --report=benchmarks/results/generate_shakespeare --training_workdir=/tmp/gen

nats/char = -(sum of token log-likelihoods) / characters, the whole validation part scored
as one text (sliding windows beyond the context), so it compares with character-level
models' validation loss (nanoGPT: 1.88 with its CPU recipe, 1.47 with its GPU recipe).
"""
import json

from absl import flags

from keras_llm.utils import cli as cli_utils

FLAGS = flags.FLAGS
PROMPTS = ("ROMEO:\n", "First Citizen:\nWe are", "KING HENRY VI:\nO God,", "JULIET:\n")


def validation_text() -> str:
    from apps.generate import config  # pylint: disable=import-outside-toplevel
    from keras_llm.training.data import document_part  # pylint: disable=import-outside-toplevel
    data = config.shakespeare().data
    return "".join(document_part(data.train_files[0], data, "eval"))


def main(argv):
    from keras_llm.finetune import cli  # pylint: disable=import-outside-toplevel
    cli._no_arguments(argv)  # pylint: disable=protected-access
    import math  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
    from keras_llm.export.generation import generate_inputs  # pylint: disable=import-outside-toplevel
    path = resolve_version_dir(FLAGS.saved_model)
    loaded = tf.saved_model.load(str(path))
    text = validation_text()
    start = time.perf_counter()
    scored = loaded.signatures["score"](text=tf.constant([text]))
    seconds = time.perf_counter() - start
    log_likelihood = float(scored["log_likelihood"][0])
    tokens = int(scored["num_tokens"][0])
    metrics = {"valid_nats_per_char": round(-log_likelihood / len(text), 4),
               "valid_nats_per_token": round(-log_likelihood / tokens, 4),
               "valid_token_perplexity": round(math.exp(-log_likelihood / tokens), 2),
               "valid_characters": len(text), "valid_tokens": tokens,
               "score_seconds": round(seconds, 1)}
    count = len(PROMPTS)
    sampled = loaded.signatures["generate"](**generate_inputs(
            PROMPTS, FLAGS.sample_tokens, temperature=0.8, top_k=40, top_p=0.95,
            seed=list(range(count))))
    samples = [p + t.decode("utf-8") for p, t in zip(PROMPTS, sampled["text"].numpy())]
    print(json.dumps({**metrics, "samples": samples}, indent=2, ensure_ascii=False))
    if FLAGS.report:
        import pathlib  # pylint: disable=import-outside-toplevel
        from keras_llm.utils import report as report_lib  # pylint: disable=import-outside-toplevel
        history = pathlib.Path(FLAGS.training_workdir or "") / "history.jsonl"
        training = [json.loads(line) for line in history.read_text().splitlines()
                    ] if FLAGS.training_workdir and history.is_file() else []
        record = report_lib.new_record(
                metrics=metrics, evaluated=str(path), size_mb=cli.saved_model_mb(path),
                through="SavedModel `score` signature on the raw validation text",
                samples={"prompts": list(PROMPTS), "max_new_tokens": FLAGS.sample_tokens,
                         "temperature": 0.8, "top_k": 40, "top_p": 0.95,
                         "seeds": list(range(count)), "texts": samples},
                training_evals=[r for r in training if "eval" in r],
                training_config=json.loads((history.parent / "config.json").read_text())
                if training else None)
        notes = [f"Evaluated: `{path}` ({record['size_mb']} MiB on disk) through its `score` "
                 "signature.", "", "Sampled through `generate` (temperature 0.8, top_k 40, "
                 "top_p 0.95, seeds 0-3):", ""]
        for sample in samples:
            notes += ["```", sample, "```", ""]
        report_lib.write(FLAGS.report, record, "Tiny Shakespeare GPT: validation nats/char",
                         metrics, notes)


if __name__ == "__main__":
    flags.DEFINE_string("saved_model", "saved_models/generation",
                        "Version folder, or base path (its latest version).")
    flags.DEFINE_string("report", None, "Also write REPORT.json and REPORT.md.")
    flags.DEFINE_string("training_workdir", None, "With --report: the training workdir, whose "
                        "config and evaluation history the report quotes.")
    flags.DEFINE_integer("sample_tokens", 60, "New tokens per sampled line.")
    cli_utils.run(main)
