"""Byte-level BPE parity: keras_llm BytePairTokenizer (host and graph paths) vs Hugging Face tokenizers.

    python scripts/tokenizer_parity_bpe.py            # full corpora, ~10 minutes on 2 cores

1. Trains an 8k vocabulary with keras_llm's `train_bpe` on WikiText-2 + Tiny Shakespeare (and, for
   comparison, HF's BpeTrainer on the same text: are the merges identical?) and writes the files.
2. Loads those files into HF `tokenizers` (BPE model + ByteLevel pre-tokenizer and decoder,
   add_prefix_space=False) and into `BytePairTokenizer`.
3. For every sentence of SST-2 train, the SQuAD contexts, WikiText-2 and Multi30k (en, de; all
   splits) counts mismatches: host ids / offsets vs HF, graph ids / offsets vs host, host decode and
   graph detokenize vs the original text. Every count must be 0.
Writes benchmarks/results/tokenizer_parity_bpe.json and .md.
"""
import datetime
import gzip
import json
import os
import sys
import tempfile
import time

from absl import app, flags

import keras_llm  # noqa: F401  (TensorFlow backend before keras)
import tensorflow as tf
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from keras_llm.tokenizers.bpe_trainer import save_bpe, train_bpe
from keras_llm.tokenizers.byte_pair import BytePairTokenizer
from keras_llm.utils import paths
from keras_llm.utils.machine import machine_info

flags.DEFINE_integer("vocabulary_size", 8000, "BPE vocabulary size.")
flags.DEFINE_integer("batch_size", 512, "Strings per graph-path call.")
flags.DEFINE_integer("limit", 0, "If > 0, sentences per corpus (quick runs; not for the record).")
flags.DEFINE_string("output_dir", "benchmarks/results", "Where the .json and .md go.")
FLAGS = flags.FLAGS


def corpora():
    data = paths.shared_data_dir()
    out = {}
    with open(data / "sst2" / "train.tsv", encoding="utf-8") as f:
        out["sst2_train"] = [line.rstrip("\n").rsplit("\t", 1)[0] for line in list(f)[1:]]
    with open(data / "squad_v1.1" / "dev-v1.1.articles-00-39.json", encoding="utf-8") as f:
        articles = json.load(f)["data"]
    out["squad_contexts"] = [p["context"] for a in articles for p in a["paragraphs"]]
    with open(data / "wikitext2" / "wiki.valid.tokens", encoding="utf-8") as f:
        out["wikitext2"] = f.read().split("\n")
    for lang in ("en", "de"):
        lines = []
        for split in ("train", "val", "test_2016_flickr"):
            with gzip.open(data / "multi30k_de_en" / f"{split}.{lang}.gz", "rt", encoding="utf-8") as f:
                lines += f.read().split("\n")
        out[f"multi30k_{lang}"] = lines
    out = {k: [t for t in v if t] for k, v in out.items()}  # drop empty lines (file ends, gaps)
    if FLAGS.limit:
        out = {k: v[:FLAGS.limit] for k, v in out.items()}
    return out


def hf_tokenizer(vocab_path, merges_path):
    tok = tokenizers.Tokenizer(models.BPE.from_file(vocab_path, merges_path))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def train(training_texts, directory):
    start = time.perf_counter()
    vocab, merges = train_bpe(training_texts, FLAGS.vocabulary_size)
    ours = time.perf_counter() - start
    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    start = time.perf_counter()
    hf.train_from_iterator(training_texts, trainers.BpeTrainer(
            vocab_size=FLAGS.vocabulary_size, min_frequency=2, special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    hf_seconds = time.perf_counter() - start
    hf_vocab = set(hf.get_vocab())
    hf_merges = [" ".join(m) for m in json.loads(hf.to_str())["model"]["merges"]]
    same = [a == b for a, b in zip(merges, hf_merges)] + [False]
    return save_bpe(vocab, merges, directory), {
            "corpus": "WikiText-2 (wiki.valid.tokens) + Tiny Shakespeare, split on newlines",
            "vocabulary_size": len(vocab), "merges": len(merges),
            "keras_llm_train_bpe_seconds": round(ours, 2),
            "hf_bpe_trainer_seconds": round(hf_seconds, 2),
            "vocabulary_overlap_with_hf_bpe_trainer": round(len(hf_vocab & set(vocab)) / len(vocab), 4),
            "merges_identical_to_hf_bpe_trainer": merges == hf_merges,
            "merges_equal_to_hf_before_first_difference": same.index(False)}


def check_corpus(texts, tokenizer, hf, graph_fn):
    counts = dict.fromkeys(["host_ids_vs_hf", "host_offsets_vs_hf", "graph_ids_vs_host",
                            "graph_offsets_vs_host", "host_round_trip", "graph_round_trip"], 0)
    seconds = {}
    start = time.perf_counter()
    hf_out = hf.encode_batch(texts)
    seconds["hf"] = time.perf_counter() - start
    tokenizer._cache.clear()  # pylint: disable=protected-access  (time a cold cache)
    start = time.perf_counter()
    ids, starts, ends = tokenizer.encode_with_offsets(texts)
    seconds["host"] = time.perf_counter() - start
    g_ids, g_starts, g_ends, g_text, seconds["graph"] = [], [], [], [], 0.0
    for i in range(0, len(texts), FLAGS.batch_size):
        start = time.perf_counter()
        out = graph_fn(tf.constant(texts[i:i + FLAGS.batch_size], tf.string))
        seconds["graph"] += time.perf_counter() - start
        g_ids += out[0].to_list()
        g_starts += out[1].to_list()
        g_ends += out[2].to_list()
        g_text += [t.decode("utf-8", errors="replace") for t in out[3].numpy()]
    decoded = tokenizer.decode(ids)
    for k, text in enumerate(texts):
        offsets = list(zip(starts[k], ends[k]))
        counts["host_ids_vs_hf"] += hf_out[k].ids != ids[k]
        counts["host_offsets_vs_hf"] += hf_out[k].offsets != offsets
        counts["graph_ids_vs_host"] += g_ids[k] != ids[k]
        counts["graph_offsets_vs_host"] += list(zip(g_starts[k], g_ends[k])) != offsets
        counts["host_round_trip"] += decoded[k] != text
        counts["graph_round_trip"] += g_text[k] != text
    return {"sentences": len(texts), "tokens": sum(map(len, ids)), "mismatches": counts,
            "seconds": {k: round(v, 2) for k, v in seconds.items()}}


def write_markdown(result, path):
    m, v = result["machine"], result["vocabulary"]
    lines = ["# Byte-level BPE parity: keras_llm BytePairTokenizer vs HF tokenizers", "",
             f"Command: `{result['command']}`  ", f"Date (UTC): {result['date']}  ",
             f"Machine: {m['cpu_model']}, {m['cpu_count']} CPUs, {m['platform']}; Python "
             f"{m['python']}, TensorFlow {m['tensorflow']}, tokenizers {m['tokenizers']}", "",
             f"Vocabulary: {v['vocabulary_size']} tokens ({v['merges']} merges) trained by "
             f"`keras_llm.tokenizers.train_bpe` on {v['corpus']} in {v['keras_llm_train_bpe_seconds']} s "
             f"(HF BpeTrainer: {v['hf_bpe_trainer_seconds']} s). Merges identical to HF BpeTrainer's: "
             f"{v['merges_identical_to_hf_bpe_trainer']}.", "",
             "| corpus | sentences | tokens | mismatches (all checks) | HF s | host s | graph s |",
             "|---|---|---|---|---|---|---|"]
    for name, r in result["corpora"].items():
        s = r["seconds"]
        lines.append(f"| {name} | {r['sentences']} | {r['tokens']} | {sum(r['mismatches'].values())} "
                     f"| {s['hf']} | {s['host']} | {s['graph']} |")
    lines += ["", f"Total sentences: {result['total_sentences']}; total mismatches: "
              f"{result['total_mismatches']}. Checks per sentence: ids and (start, end) code-point "
              "offsets of the host path vs HF, of the graph path vs the host path, and the lossless "
              "round trip of host `decode` and graph `detokenize`. Per-check counts are in the .json.",
              "", "Times are one pass each, side by side in one process (host = Python path with a "
              "cold word cache; graph = tf.function, batches of "
              f"{result['batch_size']}, traced before timing; HF = `encode_batch`, multi-threaded "
              "Rust). The machine is shared with other jobs: times are indicative."]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main(argv):
    del argv
    data = paths.shared_data_dir()
    training_texts = ((data / "wikitext2" / "wiki.valid.tokens").read_text(encoding="utf-8")
                      + (data / "tiny_shakespeare" / "input.txt").read_text(encoding="utf-8")
                      ).split("\n")
    with tempfile.TemporaryDirectory() as tmp:
        (vocab_path, merges_path), vocab_info = train(training_texts, tmp)
        print("vocabulary:", vocab_info)
        hf = hf_tokenizer(vocab_path, merges_path)
        tokenizer = BytePairTokenizer(vocab_path, merges_path)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def graph_fn(strings):
        ids, starts, ends = tokenizer.tokenize_with_offsets(strings)
        return ids, starts, ends, tokenizer.detokenize(ids)

    graph_fn(tf.constant(["warm up: trace once"]))  # tracing is not part of the timings
    results = {}
    for name, texts in corpora().items():
        results[name] = check_corpus(texts, tokenizer, hf, graph_fn)
        print(name, results[name])
    result = {"command": "python " + " ".join(sys.argv),
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
              "machine": machine_info(tokenizers=tokenizers.__version__),
              "vocabulary": vocab_info, "batch_size": FLAGS.batch_size,
              "corpora": results,
              "total_sentences": sum(r["sentences"] for r in results.values()),
              "total_mismatches": sum(sum(r["mismatches"].values()) for r in results.values())}
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    base = os.path.join(FLAGS.output_dir, "tokenizer_parity_bpe")
    with open(base + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    write_markdown(result, base + ".md")
    print("total sentences", result["total_sentences"], "mismatches", result["total_mismatches"])
    return 0 if result["total_mismatches"] == 0 else 1


if __name__ == "__main__":
    app.run(main)
