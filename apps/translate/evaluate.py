"""BLEU of a translator on Multi30k test_2016_flickr (German -> English), beam search and
greedy, through a SavedModel and/or in process from a training workdir's preset.

    python -m apps.translate.evaluate --saved_model=saved_models/translation \\
        --workdir=/tmp/translate --report=benchmarks/results/translate_multi30k

Two BLEU figures per decoding: sacreBLEU's default (cased, 13a tokenizer;
keras_llm.evaluation.bleu, checked against the sacrebleu package in the tests) and the same
lowercased (`sacrebleu -lc`), the closest standard form of the lowercased, tokenized BLEU
that the published anchor quotes (a 3+3-layer 256-wide Transformer: 36.5). With both
--saved_model and --workdir, the report also says whether the two give identical outputs.
"""
import json
import time

from absl import flags

from keras_llm.utils import cli as cli_utils

FLAGS = flags.FLAGS
DECODINGS = {"beam": "serving_default", "greedy": "greedy"}


def read_pair(split: str, folder=None):
    """(German lines, English lines) of a Multi30k split."""
    import gzip  # pylint: disable=import-outside-toplevel
    from apps.translate import config  # pylint: disable=import-outside-toplevel
    lines = []
    for path in config.pair(folder or config.multi30k_dir(), split):
        with (gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz")
              else open(path, encoding="utf-8")) as f:
            lines.append([line.rstrip("\n") for line in f])
    return lines[0], lines[1]


def score(hypotheses, references) -> dict:
    from keras_llm.evaluation.bleu import corpus_bleu  # pylint: disable=import-outside-toplevel
    cased = corpus_bleu(hypotheses, references)
    lower = corpus_bleu(hypotheses, references, lowercase=True)
    return {"sacrebleu": round(cased["bleu"], 2), "bleu_lowercased": round(lower["bleu"], 2),
            "brevity_penalty": round(cased["brevity_penalty"], 4),
            "length_ratio": round(cased["length_ratio"], 4)}


def _signatures():
    """name -> {decoding -> signature} for the SavedModel and/or the workdir's module."""
    from apps.translate import config  # pylint: disable=import-outside-toplevel
    from keras_llm.finetune import inference  # pylint: disable=import-outside-toplevel
    module = config.module(FLAGS.workdir, FLAGS.quantize, num_beams=FLAGS.num_beams
                           ) if FLAGS.workdir else None
    found = inference.text_to_text_signatures(FLAGS.saved_model, module,
                                              tuple(DECODINGS.values()))
    return {name: {d: sigs[s] for d, s in DECODINGS.items() if s in sigs}
            for name, sigs in found.items()}


def main(argv):
    from keras_llm.finetune import cli, inference  # pylint: disable=import-outside-toplevel
    cli._no_arguments(argv)  # pylint: disable=protected-access
    sources, references = read_pair(FLAGS.split, FLAGS.data_dir)
    if FLAGS.max_sentences:
        sources, references = sources[:FLAGS.max_sentences], references[:FLAGS.max_sentences]
    results, outputs = {}, {}
    for name, signatures in _signatures().items():
        for decoding, signature in signatures.items():
            start = time.perf_counter()
            hypotheses = inference.generate_texts(signature, sources, "translation",
                                                  FLAGS.batch_size)
            seconds = time.perf_counter() - start
            outputs[(name, decoding)] = hypotheses
            results[f"{name}, {decoding}"] = {**score(hypotheses, references),
                                              "seconds": round(seconds, 1)}
            print(json.dumps({name: {decoding: results[f"{name}, {decoding}"]}}), flush=True)
    names = sorted({n for n, _ in outputs})
    same = None
    if len(names) == 2:
        same = {d: outputs[(names[0], d)] == outputs[(names[1], d)] for d in DECODINGS
                if (names[0], d) in outputs and (names[1], d) in outputs}
        print(json.dumps({"identical_outputs": same}))
    if FLAGS.report:
        _report(results, same, sources, references, outputs[(names[0], "beam")])


def _report(results, same, sources, references, beam_outputs):
    from keras_llm.finetune import cli  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import report as report_lib  # pylint: disable=import-outside-toplevel
    from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
    training = report_lib.training_run(FLAGS.training_workdir)
    size = (cli.saved_model_mb(resolve_version_dir(FLAGS.saved_model)) if FLAGS.saved_model
            else None)
    samples = [{"de": s, "reference": r, "beam": h}
               for s, r, h in list(zip(sources, references, beam_outputs))[:8]]
    record = report_lib.new_record(split=FLAGS.split, sentences=len(sources), results=results,
                                   identical_outputs=same, size_mb=size, samples=samples,
                                   training=training)
    metrics = {f"{k}, {m}": v for k, r in results.items() for m, v in r.items()
               if m in ("sacrebleu", "bleu_lowercased")}
    notes = [f"Multi30k {FLAGS.split}, {len(sources)} sentences, German -> English. "
             "`sacrebleu` = cased, 13a tokenizer (sacreBLEU's default); `bleu_lowercased` = "
             "the same lowercased (sacreBLEU -lc), the comparable form of the anchor's "
             "lowercased tokenized BLEU (3+3-layer 256-wide Transformer: 36.5; it tokenized "
             "with spaCy, so the two are close, not identical).", ""]
    if size is not None:
        notes += [f"SavedModel size on disk: {size} MiB.", ""]
    if same is not None:
        notes += [f"SavedModel and in-process outputs identical: {same}.", ""]
    notes += ["| German | reference | beam search |", "|---|---|---|"]
    notes += [f"| {s['de']} | {s['reference']} | {s['beam']} |" for s in samples]
    report_lib.write(FLAGS.report, record, "Multi30k German -> English: BLEU", metrics, notes)


if __name__ == "__main__":
    flags.DEFINE_string("saved_model", None, "Version folder, or base path (its latest "
                        "version).")
    flags.DEFINE_string("workdir", None, "Training workdir: also translate in process from "
                        "its preset (same module as the export).")
    flags.DEFINE_integer("num_beams", 4, "Beams for the in-process module.")
    flags.DEFINE_string("quantize", "", "Quantization of the in-process module (as the "
                        "export's --quantize), so it is the exported graph's twin.")
    flags.DEFINE_string("split", "test_2016_flickr", "Multi30k split: test_2016_flickr, val.")
    flags.DEFINE_string("data_dir", None, "Folder with <split>.de(.gz)/<split>.en(.gz) "
                        "(default: <shared data>/multi30k_de_en).")
    flags.DEFINE_integer("batch_size", 50, "Sentences per call.")
    flags.DEFINE_integer("max_sentences", 0, "Evaluate the first N only (0 = all).")
    flags.DEFINE_string("report", None, "Also write REPORT.json and REPORT.md.")
    flags.DEFINE_string("training_workdir", None, "With --report: the training workdir, whose "
                        "config and evaluation history the report quotes.")
    cli_utils.run(main)
