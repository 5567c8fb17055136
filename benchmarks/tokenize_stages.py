"""Where the WordPiece graph path's time goes, next to tensorflow-text's FastBertTokenizer:
the same 10,000 SST-2 sentences as benchmarks/tokenize.py, one run, interleaved repeats (the
order rotates every repeat), medians.

    flock /tmp/bench.lock python -m benchmarks.tokenize_stages [--repeats 15]

Three parts, each timed side by side with FastBertTokenizer.tokenize in the same loop:
1. Stages. The ids-only graph path (`tokenizer(s)`) cut after each of its steps; every cut
   includes the steps before it and is its own tf.function over the same batches of 1024. Each
   is given as a multiple of FastBertTokenizer's time for the whole job. Also the full path
   with the vectorised loop segmenter instead of the regular expressions (the fallback for
   vocabularies too large for them).
2. Batch sizes: the full path against FastBertTokenizer at several batch sizes.
3. CPU time: process CPU seconds (all threads) next to wall seconds at batches of 1024, since
   the graph path runs independent ops on both cores and FastBertTokenizer is one kernel.
Writes benchmarks/results/tokenize_stages.{json,md}.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

from benchmarks import serve_load  # noqa: E402
from benchmarks import tokenize as tokenize_bench  # noqa: E402
from keras_llm import tokenizers  # noqa: E402
from keras_llm.utils import paths  # noqa: E402
from keras_llm.utils.machine import machine_info  # noqa: E402

FAST = "tensorflow-text FastBertTokenizer"
FULL = "6. full graph path, tokenizer(s): pieces back to their rows"


def make_stages(tok):
    """{name: fn}: cumulative cuts of `tok`'s ids-only graph path (`_tokenize_ids`), each a
    function of a (B,) string batch returning tensors; the last is the tokenizer itself."""
    # pylint: disable=protected-access
    def words(s):
        return tok._distinct_chunk_words(s)[2]

    def pieces(s):
        p = tok._wordpiece_graph(words(s), dedupe=False)
        return p.ids, p.word_splits
    return {
            "1. rows cut at ASCII spaces (tf.strings.split)":
                    lambda s: tf.strings.split(s, sep=" ").flat_values,
            "2. + distinct chunks (tf.unique)":
                    lambda s: tf.unique(tf.strings.split(s, sep=" ").flat_values)[0],
            "3. + words of the distinct chunks (lowercase, punctuation, split, clean check)": words,
            "4. + whole-word vocabulary lookup": lambda s: tok._vocab_table.lookup(words(s)),
            "5. + pieces of every word (regex segmentation of out-of-vocabulary words)":
                    pieces,
            FULL: lambda s: tok(s).flat_values,
    }


def batch_counts(tok, tensors):
    """Mean elements per batch at each stage: chunks, distinct chunks, words, words not in
    the vocabulary as a whole, pieces."""
    # pylint: disable=protected-access
    counts = {"chunks": [], "distinct chunks": [], "words": [],
              "out-of-vocabulary words (segmented by regex)": [], "pieces": []}
    for t in tensors:
        chunks, chunk_of, words, _, _ = tok._distinct_chunk_words(t)
        counts["chunks"].append(int(tf.size(chunks.flat_values)))
        counts["distinct chunks"].append(int(tf.reduce_max(chunk_of)) + 1)
        counts["words"].append(int(tf.size(words)))
        counts["out-of-vocabulary words (segmented by regex)"].append(
                int(tf.reduce_sum(tf.cast(tok._vocab_table.lookup(words) < 0, tf.int32))))
        counts["pieces"].append(int(tf.size(tok(t).flat_values)))
    return {k: round(statistics.mean(v)) for k, v in counts.items()}


def interleaved(runners, repeats, clock=time.perf_counter):
    """{name: [seconds per repeat]}: every runner once per repeat, in an order that rotates
    from repeat to repeat, garbage collected before each timing."""
    names = list(runners)
    times = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            t0 = clock()
            runners[name]()
            times[name].append(clock() - t0)
    return times


def ratios(times, name, base=FAST):
    """(median of per-repeat base/name ratios, ratio of medians)."""
    per_repeat = [b / t for b, t in zip(times[base], times[name])]
    return (round(statistics.median(per_repeat), 3),
            round(statistics.median(times[base]) / statistics.median(times[name]), 3))


def graph_runner(fn, tensors):
    spec = [tf.TensorSpec([None], tf.string)]
    return tokenize_bench.time_graph(tf.function(fn, input_signature=spec), tensors)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch_sizes", default="32,256,1024,4096,10000")
    parser.add_argument("--output_prefix",
                        default=str(tokenize_bench.RESULTS / "tokenize_stages"))
    args = parser.parse_args()
    import tensorflow_text as tf_text  # pylint: disable=import-outside-toplevel

    texts = tokenize_bench.load_sentences(args.sentences)
    vocab_path = str(paths.minilm_dir() / "vocab.txt")
    with open(vocab_path, encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    fast = tf_text.FastBertTokenizer(vocab, lower_case_nfd_strip_accents=True,
                                     token_out_type=tf.int64)
    tok = tokenizers.WordPieceTokenizer(vocab_path)
    loop_tok = tokenizers.WordPieceTokenizer(vocab_path)
    loop_tok._first_patterns = ()  # pylint: disable=protected-access  # use _segment_loop
    tensors = tokenize_bench.batches(texts, 1024)
    assert all(tf.reduce_all(loop_tok(t).flat_values == tok(t).flat_values) for t in tensors)

    def fast_fn(s):
        return fast.tokenize(s).flat_values

    # 1. Stages
    runners = {FAST: graph_runner(fast_fn, tensors)}
    runners.update({name: graph_runner(fn, tensors) for name, fn in make_stages(tok).items()})
    loop_name = "6'. full graph path with the loop segmenter instead of regexes"
    runners[loop_name] = graph_runner(lambda s: loop_tok(s).flat_values, tensors)
    for run in runners.values():
        run()  # warm-up: tracing, tables, regex caches
    stage_times = interleaved(runners, args.repeats)
    fast_median = statistics.median(stage_times[FAST])
    stages, previous = [], 0.0
    for name in runners:
        if name == FAST:
            continue
        # time as a multiple of FastBertTokenizer's (1 / speed ratio)
        per_repeat, of_medians = ratios(stage_times, name)
        share = round(1 / of_medians, 2)
        stages.append({"stage": name, "median_seconds": round(statistics.median(
                stage_times[name]), 4), "x_fast_time": share,
                       "x_fast_time_added": round(share - previous, 2)
                       if not name.startswith("6'") else None,
                       "speed_vs_fast_median_per_repeat": per_repeat,
                       "speed_vs_fast_ratio_of_medians": of_medians})
        if not name.startswith("6'"):
            previous = share

    # 2. Batch sizes
    sizes = []
    for size in [int(b) for b in args.batch_sizes.split(",")]:
        sized = tokenize_bench.batches(texts, size)
        pair = {FAST: graph_runner(fast_fn, sized),
                FULL: graph_runner(lambda s: tok(s).flat_values, sized)}
        for run in pair.values():
            run()
        times = interleaved(pair, args.repeats)
        per_repeat, of_medians = ratios(times, FULL)
        sizes.append({"batch_size": size, "calls": len(sized),
                      "graph_sentences_per_second": round(
                              len(texts) / statistics.median(times[FULL])),
                      "fast_sentences_per_second": round(
                              len(texts) / statistics.median(times[FAST])),
                      "speed_vs_fast_median_per_repeat": per_repeat,
                      "speed_vs_fast_ratio_of_medians": of_medians})
        print(f"batch {size}: {per_repeat}x / {of_medians}x", flush=True)

    # 3. CPU time at batches of 1024
    pair = {FAST: runners[FAST], FULL: runners[FULL]}
    wall = interleaved(pair, args.repeats)
    cpu = interleaved(pair, args.repeats, clock=time.process_time)
    cpu_rows = [{"method": name, "wall_seconds": round(statistics.median(wall[name]), 4),
                 "cpu_seconds": round(statistics.median(cpu[name]), 4),
                 "cores_busy": round(statistics.median(cpu[name]) / statistics.median(
                         wall[name]), 2)} for name in pair]
    cpu_ratio = ratios(cpu, FULL)

    report = {"command": "python -m benchmarks.tokenize_stages " + " ".join(sys.argv[1:]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "sentences": len(texts), "repeats": args.repeats,
              "fast_median_seconds_batch_1024": round(fast_median, 4),
              "elements_per_batch_of_1024": batch_counts(tok, tensors),
              "stages": stages, "batch_sizes": sizes, "cpu": cpu_rows,
              "cpu_time_speed_vs_fast": {"median_per_repeat": cpu_ratio[0],
                                         "ratio_of_medians": cpu_ratio[1]}}
    lines = ["# WordPiece graph path: where the time goes", "",
             f"Command: `{report['command']}`  ", f"Date (UTC): {report['date']}  ",
             f"Machine: {report['machine']}  ",
             f"Data: first {len(texts)} SST-2 train sentences, MiniLM uncased vocabulary, "
             f"median of {args.repeats} interleaved repeats (order rotated every repeat, garbage "
             "collected before each timing), each timed next to tensorflow-text "
             "FastBertTokenizer in the same loop.", "",
             "## 1. Stages (batches of 1024)", "",
             "Each row is the graph path cut after that step (it includes every step above "
             "it), as a multiple of FastBertTokenizer's time for the whole job "
             f"({fast_median * 1000:.1f} ms for {len(texts)} sentences). Every row, like "
             "FastBertTokenizer's time, includes the cost of calling a tf.function once per "
             "batch. For the goal (speed >= 0.5x) the full path may take at most 2.0x.", "",
             "| stage | x FastBert time | added by this step | speed vs FastBert "
             "(median per repeat / ratio of medians) |", "|---|---|---|---|"]
    for row in stages:
        added = "" if row["x_fast_time_added"] is None else row["x_fast_time_added"]
        lines.append(f"| {row['stage']} | {row['x_fast_time']} | {added} | "
                     f"{row['speed_vs_fast_median_per_repeat']} / "
                     f"{row['speed_vs_fast_ratio_of_medians']} |")
    lines += ["", "Elements per batch of 1024 (mean): " + ", ".join(
            f"{k} {v}" for k, v in report["elements_per_batch_of_1024"].items()) + ".", "",
              "## 2. Batch sizes", "",
              "| batch size | calls | graph sentences/s | FastBert sentences/s | speed vs FastBert "
              "(median per repeat / ratio of medians) |", "|---|---|---|---|---|"]
    lines += [f"| {r['batch_size']} | {r['calls']} | {r['graph_sentences_per_second']} | "
              f"{r['fast_sentences_per_second']} | {r['speed_vs_fast_median_per_repeat']} / "
              f"{r['speed_vs_fast_ratio_of_medians']} |" for r in sizes]
    lines += ["", "## 3. CPU time (batches of 1024)", "",
              "| method | wall s | CPU s (all threads) | cores busy |", "|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['wall_seconds']} | {r['cpu_seconds']} | "
              f"{r['cores_busy']} |" for r in cpu_rows]
    lines += ["", f"Speed vs FastBert counted in CPU time: {cpu_ratio[0]}x (median per repeat) "
              f"/ {cpu_ratio[1]}x (ratio of medians)."]
    serve_load.save_report(report, lines, args.output_prefix)


if __name__ == "__main__":
    main()
