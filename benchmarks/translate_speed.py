"""Sentences per second of an exported translation SavedModel: beam search with 4 beams
(`serving_default`) and 1 hypothesis (`greedy`), batch 1 and 32, in one process.

    python -m benchmarks.translate_speed --saved_model=saved_models/translation

Sentences: the first --sentences German sentences of Multi30k test_2016_flickr (the committed
sample's when the shared data folder is absent), cut into batches in file order. Every
(signature, batch size) runs once to warm up, then --repeats times in rotation (A B C D A B C D
...); the median seconds per pass over the sentences are reported as sentences/s. Writes
benchmarks/results/translate_speed.json and .md (or --output_prefix).
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

SIGNATURES = {"beam 4": "serving_default", "greedy (beam 1)": "greedy"}


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saved_model", default="saved_models/translation",
                        help="Version folder, or base path (its latest version).")
    parser.add_argument("--batch_sizes", default="1,32")
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output_prefix", default="benchmarks/results/translate_speed")
    return parser.parse_args()


def _sentences(count):
    from apps.translate import config  # pylint: disable=import-outside-toplevel
    from apps.translate.evaluate import read_pair  # pylint: disable=import-outside-toplevel
    folder = config.multi30k_dir()
    split = "test_2016_flickr"
    if not (folder / f"{split}.de.gz").exists():
        folder, split = config.SAMPLE, "train"
    return read_pair(split, folder)[0][:count], f"{folder.name}/{split}"


def main():
    args = _parse()
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from keras_llm.export.check import resolve_version_dir  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import report  # pylint: disable=import-outside-toplevel
    path = resolve_version_dir(args.saved_model)
    loaded = tf.saved_model.load(str(path))
    sentences, source = _sentences(args.sentences)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    runs = {(name, b): loaded.signatures[sig] for name, sig in SIGNATURES.items()
            for b in batch_sizes}
    batches = {b: [tf.constant(sentences[i:i + b]) for i in range(0, len(sentences), b)]
               for b in batch_sizes}

    def one_pass(key):
        start = time.perf_counter()
        for batch in batches[key[1]]:
            runs[key](text=batch)["translation"].numpy()
        return time.perf_counter() - start

    for key in runs:  # warm up: every batch shape once
        one_pass(key)
    times = {key: [] for key in runs}
    for _ in range(args.repeats):
        for key in runs:
            times[key].append(one_pass(key))
    metrics = {f"{name}, batch {b}": round(len(sentences) / statistics.median(times[(name, b)]),
                                            2) for name, b in runs}
    record = report.new_record(saved_model=str(path), sentences=len(sentences), source=source,
                               repeats=args.repeats, sentences_per_second=metrics,
                               seconds={f"{n}, batch {b}": t for (n, b), t in times.items()})
    notes = [f"`{path}`: {len(sentences)} German sentences of {source}, sentences/s = "
             f"sentences / median seconds of {args.repeats} interleaved passes (after one "
             "warm-up pass each), in process through the SavedModel's signatures on this "
             "machine's CPU."]
    report.write(args.output_prefix, record, "Translation SavedModel speed (sentences/s)",
                 metrics, notes)
    for key, value in metrics.items():
        print(f"{key}: {value} sentences/s")


if __name__ == "__main__":
    main()
