"""ROUGE of a summarizer on DialogSum dev (500 dialogues), through a SavedModel and/or in
process from a training workdir's preset (with both: whether the outputs are identical).

    python -m apps.summarize.evaluate --saved_model=saved_models/summarization \\
        --report=benchmarks/results/summarize_dialogsum --training_workdir=/tmp/summarize \\
        --baseline_saved_model=/tmp/summarize_0_export --baseline_training_workdir=/tmp/summarize_0

ROUGE-1/2/L (and Lsum) F-measure x 100 with the `rouge-score` package (a dev dependency,
stemming on, as the DialogSum baselines report it), beam search (`serving_default`) and
greedy (the `greedy` signature, when the export has it).
Anchors (dev, not this project's numbers): BART-large 46.0/21.4/38.7, bart-base about
42.9/21.9/37.5, t5-small about 38.4/16.0/32.9.
"""
import json
import time

from absl import flags

from keras_llm.utils import cli as cli_utils

FLAGS = flags.FLAGS
DECODINGS = {"beam": "serving_default", "greedy": "greedy"}
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def read_split(path):
    """(dialogues, reference summaries) of a DialogSum JSONL file."""
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["dialogue"] for r in rows], [r["summary"] for r in rows]


def rouge(predictions, references) -> dict:
    """Mean F-measure x 100 per ROUGE type (rouge-score, stemming on; Lsum splits lines)."""
    from rouge_score import rouge_scorer  # pylint: disable=import-outside-toplevel
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, reference in zip(predictions, references):
        for name, score in scorer.score(reference, prediction).items():
            totals[name] += score.fmeasure
    return {name: round(100 * total / max(len(predictions), 1), 2)
            for name, total in totals.items()}


def main(argv):
    from apps.summarize import config  # pylint: disable=import-outside-toplevel
    from keras_llm.finetune import cli, inference  # pylint: disable=import-outside-toplevel
    cli._no_arguments(argv)  # pylint: disable=protected-access
    if FLAGS.report and "beam" not in FLAGS.decodings:
        raise ValueError(f"--report quotes beam-search summaries: add beam to --decodings "
                         f"(got {FLAGS.decodings}).")
    dialogues, references = read_split(FLAGS.data_file or config.dialogsum_dir() / config.DEV_FILE)
    if FLAGS.max_examples:
        dialogues, references = dialogues[:FLAGS.max_examples], references[:FLAGS.max_examples]
    module = (config.module(FLAGS.workdir, FLAGS.quantize, prune_vocabulary=FLAGS.prune_vocabulary,
                            greedy=FLAGS.greedy_signature) if FLAGS.workdir else None)
    found = inference.text_to_text_signatures(FLAGS.saved_model, module,
                                              tuple(DECODINGS.values()))
    twins = sorted(found)  # the SavedModel and its in-process twin
    if FLAGS.baseline_saved_model:
        baseline = inference.text_to_text_signatures(FLAGS.baseline_saved_model, None,
                                                     tuple(DECODINGS.values()))
        found.update({f"baseline {k}": v for k, v in baseline.items()})
    results, outputs = {}, {}
    for name, signatures in found.items():
        for decoding, signature_name in DECODINGS.items():
            if signature_name not in signatures or decoding not in FLAGS.decodings:
                continue
            start = time.perf_counter()
            summaries = inference.generate_texts(signatures[signature_name], dialogues,
                                                 config.OUTPUT, FLAGS.batch_size)
            outputs[(name, decoding)] = summaries
            results[f"{name}, {decoding}"] = {**rouge(summaries, references),
                                              "seconds": round(time.perf_counter() - start, 1)}
            print(json.dumps({name: {decoding: results[f"{name}, {decoding}"]}}), flush=True)
    same = ({d: outputs[(twins[0], d)] == outputs[(twins[1], d)] for d in DECODINGS
             if (twins[0], d) in outputs and (twins[1], d) in outputs}
            if len(twins) == 2 else None)
    if FLAGS.report:
        _report(results, same, dialogues, references, outputs[(twins[0], "beam")])


def _report(results, same, dialogues, references, beam_outputs):
    from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
    from keras_llm.finetune import cli  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import report as report_lib  # pylint: disable=import-outside-toplevel
    size = (cli.saved_model_mb(resolve_version_dir(FLAGS.saved_model)) if FLAGS.saved_model
            else None)
    # Model outputs only: the dialogues and references are CC BY-NC-SA, never committed.
    samples = [{"example": i, "summary": beam_outputs[i]} for i in range(min(3, len(dialogues)))]
    record = report_lib.new_record(examples=len(dialogues), results=results,
                                   identical_outputs=same, size_mb=size, samples=samples,
                                   training=report_lib.training_run(FLAGS.training_workdir),
                                   baseline_training=report_lib.training_run(
                                           FLAGS.baseline_training_workdir))
    metrics = {f"{k}, {m}": v for k, r in results.items() for m, v in r.items()
               if m in ROUGE_TYPES}
    notes = [f"DialogSum dev, {len(dialogues)} dialogues: ROUGE F-measure x 100 (rouge-score, "
             "stemming on).", ""]
    if size is not None:
        notes += [f"SavedModel size on disk: {size} MiB.", ""]
    if same is not None:
        notes += [f"SavedModel and in-process outputs identical: {same}.", ""]
    notes += ["Three summaries by beam search (dev examples by position; the dialogues are "
              "not reproduced here, DialogSum's licence forbids committing them):", ""]
    notes += [f"- dev #{s['example']}: {s['summary']}" for s in samples]
    report_lib.write(FLAGS.report, record, "DialogSum summarization: ROUGE", metrics, notes)


if __name__ == "__main__":
    flags.DEFINE_string("saved_model", None, "Version folder, or base path (its latest "
                        "version).")
    flags.DEFINE_string("workdir", None, "Training workdir: also summarize in process from "
                        "its preset (same module as the export).")
    flags.DEFINE_string("quantize", "", "Quantization of the in-process module (as the "
                        "export's --quantize), so it is the exported graph's twin.")
    flags.DEFINE_bool("prune_vocabulary", False, "The in-process module's vocabulary pruned "
                      "to the training texts' pieces (as the export's --prune_vocabulary).")
    flags.DEFINE_bool("greedy_signature", True, "The in-process module has the `greedy` "
                      "signature too (as the export's --greedy_signature).")
    flags.DEFINE_string("baseline_saved_model", None, "A second SavedModel scored the same way "
                        "(e.g. the from-scratch baseline), side by side in the report.")
    flags.DEFINE_string("baseline_training_workdir", None, "With --report: the baseline's "
                        "training workdir.")
    flags.DEFINE_string("data_file", None, "DialogSum JSONL (default: <shared data>/dialogsum/"
                        "dialogsum.dev.jsonl).")
    flags.DEFINE_integer("batch_size", 16, "Dialogues per call.")
    flags.DEFINE_multi_enum("decodings", list(DECODINGS), list(DECODINGS),
                            "Decodings to score (each model's that it has a signature for).")
    flags.DEFINE_integer("max_examples", 0, "Evaluate the first N only (0 = all).")
    flags.DEFINE_string("report", None, "Also write REPORT.json and REPORT.md.")
    flags.DEFINE_string("training_workdir", None, "With --report: the training workdir, whose "
                        "config and evaluation history the report quotes.")
    cli_utils.run(main)
