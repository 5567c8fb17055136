"""Token-for-token parity of keras_llm's WordPieceTokenizer (host and graph paths) with
Hugging Face `tokenizers` (ids and code-point offsets) and tensorflow-text's BertTokenizer (ids),
on full real corpora, with MiniLM's uncased vocabulary (and a cased run on some corpora).

    python scripts/tokenizer_parity_wordpiece.py [--limit N] [--batch_size 1024]

Writes benchmarks/results/tokenizer_parity_wordpiece.{json,md}.
"""
import argparse
import datetime
import gzip
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras_llm  # noqa: E402,F401  (TensorFlow backend first)
import tensorflow as tf  # noqa: E402

from keras_llm import tokenizers  # noqa: E402
from keras_llm.utils import paths  # noqa: E402
from keras_llm.utils.machine import machine_info

RESULTS = paths.PROJECT_ROOT / "benchmarks" / "results"
MAX_EXAMPLES = 6


def load_corpora():
    """name -> list of str (full corpora from the shared data folder)."""
    data = paths.shared_data_dir()
    with open(data / "sst2" / "train.tsv", encoding="utf-8") as f:
        sst2 = [line.rstrip("\n").rsplit("\t", 1)[0] for line in f][1:]
    with open(data / "squad_v1.1" / "dev-v1.1.articles-00-39.json", encoding="utf-8") as f:
        squad = [p["context"] for a in json.load(f)["data"] for p in a["paragraphs"]]
    with open(data / "wikitext2" / "wiki.valid.tokens", encoding="utf-8") as f:
        wiki = [line.rstrip("\n") for line in f]
    corpora = {"sst2_train": sst2, "squad_contexts": squad, "wikitext2_valid": wiki}
    for lang in ("en", "de"):
        lines = []
        for split in ("train", "val", "test_2016_flickr"):
            with gzip.open(data / "multi30k_de_en" / f"{split}.{lang}.gz", "rt",
                           encoding="utf-8") as f:
                lines += [line.rstrip("\n") for line in f]
        corpora[f"multi30k_{lang}"] = lines
    return corpora


def graph_encode(tok, texts, batch_size):
    fn = tf.function(tok.tokenize_with_offsets,
                     input_signature=[tf.TensorSpec([None], tf.string)])
    ids, starts, ends = [], [], []
    for i in range(0, len(texts), batch_size):
        out = fn(tf.constant(texts[i:i + batch_size]))
        for acc, x in zip((ids, starts, ends), out):
            acc.extend(x.to_list())
    return ids, starts, ends


def graph_ids(tok, texts, batch_size):
    """The ids-only graph path (`tok(strings)`, what exported models call)."""
    fn = tf.function(lambda s: tok(s), input_signature=[tf.TensorSpec([None], tf.string)])
    ids = []
    for i in range(0, len(texts), batch_size):
        ids.extend(fn(tf.constant(texts[i:i + batch_size])).to_list())
    return ids


def hf_encode(hf, texts):
    encs = hf.encode_batch(texts, add_special_tokens=False)
    return ([e.ids for e in encs], [[o[0] for o in e.offsets] for e in encs],
            [[o[1] for o in e.offsets] for e in encs])


def tftext_encode(tf_text, vocab_path, texts, lowercase, batch_size):
    bt = tf_text.BertTokenizer(vocab_path, lower_case=lowercase, token_out_type=tf.int64)
    fn = tf.function(lambda s: bt.tokenize(s).merge_dims(1, 2))
    out = []
    for i in range(0, len(texts), batch_size):
        out.extend(fn(tf.constant(texts[i:i + batch_size])).to_list())
    return out


def compare(name, ref, got):
    """Count sentences whose ids / offsets differ from the reference; keep a few examples."""
    bad_ids = [i for i, (a, b) in enumerate(zip(ref[0], got[0])) if a != b]
    bad_off = [i for i in range(len(ref[0]))
               if ref[1][i] != got[1][i] or ref[2][i] != got[2][i]]
    return {f"{name}_id_mismatches": len(bad_ids), f"{name}_offset_mismatches": len(bad_off),
            f"{name}_examples": sorted(set(bad_ids + bad_off))[:MAX_EXAMPLES]}


def describe_tftext_diff(tok, text, ours, theirs):
    """A short, readable record of one difference with tensorflow-text."""
    a = [tok.id_to_token(i) for i in ours]
    b = [tok.id_to_token(i) for i in theirs]
    k = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
    chars = sorted({f"U+{ord(c):04X}" for c in text if ord(c) > 127})
    return {"text": text[:160], "first_diff_at": k, "ours": a[max(0, k - 2):k + 4],
            "tf_text": b[max(0, k - 2):k + 4], "non_ascii": chars[:12]}


def run_corpus(name, texts, tok, hf, tf_text, vocab_path, lowercase, batch_size):
    t0 = time.time()
    host = tok.encode_with_offsets(texts)
    graph = graph_encode(tok, texts, batch_size)
    ref = hf_encode(hf, texts)
    row = {"corpus": name, "lowercase": lowercase, "sentences": len(texts),
           "tokens": sum(len(r) for r in ref[0])}
    row.update(compare("host_vs_hf", ref, host))
    row.update(compare("graph_vs_hf", ref, graph))
    ids_only = graph_ids(tok, texts, batch_size)
    bad = [i for i, (a, b) in enumerate(zip(ref[0], ids_only)) if a != b]
    row.update(graph_ids_vs_hf_id_mismatches=len(bad), graph_ids_vs_hf_examples=bad[:MAX_EXAMPLES])
    if tf_text is not None:
        theirs = tftext_encode(tf_text, vocab_path, texts, lowercase, batch_size)
        diff = [i for i, (a, b) in enumerate(zip(host[0], theirs)) if a != b]
        row["tftext_diff_sentences"] = len(diff)
        row["tftext_examples"] = [describe_tftext_diff(tok, texts[i], host[0][i], theirs[i])
                                  for i in diff[:MAX_EXAMPLES]]
    row["seconds"] = round(time.time() - t0, 1)
    print(json.dumps({k: v for k, v in row.items() if not k.endswith("examples")}), flush=True)
    return row


def write_markdown(report, path):
    lines = ["# WordPiece tokenizer parity (keras_llm vs Hugging Face tokenizers vs tensorflow-text)",
             "", f"Command: `{report['command']}`  ", f"Date (UTC): {report['date']}  ",
             f"Machine: {report['machine']}  ", f"Vocabulary: {report['vocabulary']}", "",
             "| corpus | lowercase | sentences | tokens | host vs HF ids / offsets | "
             "graph (with offsets) vs HF ids / offsets | graph (ids only) vs HF ids | "
             "sentences differing from tf-text |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["corpora"]:
        lines.append(f"| {r['corpus']} | {r['lowercase']} | {r['sentences']} | {r['tokens']} | "
                     f"{r['host_vs_hf_id_mismatches']} / {r['host_vs_hf_offset_mismatches']} | "
                     f"{r['graph_vs_hf_id_mismatches']} / {r['graph_vs_hf_offset_mismatches']} | "
                     f"{r.get('graph_ids_vs_hf_id_mismatches', 'n/a')} | "
                     f"{r.get('tftext_diff_sentences', 'n/a')} |")
    lines += ["", f"Total mismatches vs Hugging Face: {report['total_mismatches_vs_hf']}", "",
              "## Differences with tensorflow-text BertTokenizer", "",
              report["tftext_explanation"], "", "Examples (first differing token in context):", ""]
    for r in report["corpora"]:
        for ex in r.get("tftext_examples", []):
            lines.append(f"- {r['corpus']}: `{ex['text'][:100]}` ours {ex['ours']} vs "
                         f"tf-text {ex['tf_text']} (non-ASCII: {' '.join(ex['non_ascii'])})")
    lines += ["", "## Known limit outside these corpora", "", UNICODE_NOTE]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


TFTEXT_EXPLANATION = (
        "tensorflow-text's BertTokenizer is not an exact BERT / Hugging Face reimplementation; "
        "every difference found is one of its documented behaviours, not a keras_llm error "
        "(keras_llm agrees with Hugging Face on all of these sentences): "
        "(1) lower_case=True applies ICU NFKC case folding (`case_fold_utf8`) instead of "
        "lowercasing + NFD: compatibility characters are decomposed and German sharp s is "
        "folded, e.g. 'weiße' -> 'weisse', '½' -> '1⁄2', '″' -> '′′', U+2011 non-breaking "
        "hyphen -> U+2010 (Multi30k de, SQuAD, WikiText-2); "
        "(2) lower_case=False does no normalization and splits words on ASCII whitespace only, "
        "so a no-break space (U+00A0) stays inside a word, e.g. 'Nummer\\u00a028' is one [UNK] "
        "word for tf-text but 'nummer' + '28' for BERT (Multi30k de, cased); "
        "(3) by design (not hit by these corpora): a 100-BYTE word limit instead of 100 "
        "characters, and control/format characters are not dropped.")


UNICODE_NOTE = (
        "keras_llm's normalization table is built from Python's `unicodedata` (Unicode "
        "14.0 on Python 3.11); Hugging Face `tokenizers` uses older Unicode tables in its Rust "
        "crates. Checking every code point below U+30000 alone and inside a word against HF "
        "gives identical ids and offsets except for about 500 code points assigned or "
        "re-categorised after HF's Unicode version (e.g. U+061D, U+2E43, U+2E55-2E5D "
        "punctuation, U+0898-089F marks, U+0890 format characters): none occurs in the "
        "corpora above. Host and graph paths always agree (they share the table).")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="sentences per corpus (0 = all)")
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--no_tftext", action="store_true")
    parser.add_argument("--markdown_only", action="store_true",
                        help="re-render the .md from the existing .json")
    args = parser.parse_args()
    if args.markdown_only:
        report = json.loads((RESULTS / "tokenizer_parity_wordpiece.json").read_text("utf-8"))
        write_markdown(report, RESULTS / "tokenizer_parity_wordpiece.md")
        return 0
    from tokenizers import BertWordPieceTokenizer  # pylint: disable=import-outside-toplevel
    tf_text = None
    if not args.no_tftext:
        import tensorflow_text as tf_text  # pylint: disable=import-outside-toplevel
    vocab_path = str(paths.minilm_dir() / "vocab.txt")
    corpora = load_corpora()
    rows = []
    for lowercase, names in ((True, list(corpora)), (False, ["squad_contexts", "multi30k_de"])):
        tok = tokenizers.WordPieceTokenizer(vocab_path, lowercase=lowercase)
        hf = BertWordPieceTokenizer(vocab_path, lowercase=lowercase)
        for name in names:
            texts = corpora[name][:args.limit] if args.limit else corpora[name]
            rows.append(run_corpus(name, texts, tok, hf, tf_text, vocab_path, lowercase,
                                   args.batch_size))
    total = sum(r[k] for r in rows for k in r if k.endswith("mismatches"))
    report = {"command": "python " + " ".join(sys.argv),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "vocabulary": "MiniLM-L6 uncased vocab.txt (30522 tokens)",
              "references": "tokenizers.BertWordPieceTokenizer (HF), tensorflow_text.BertTokenizer",
              "total_mismatches_vs_hf": total, "tftext_explanation": TFTEXT_EXPLANATION,
              "corpora": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if not args.limit else f"_limit{args.limit}"
    (RESULTS / f"tokenizer_parity_wordpiece{suffix}.json").write_text(
            json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_markdown(report, RESULTS / f"tokenizer_parity_wordpiece{suffix}.md")
    print(f"total mismatches vs HF: {total}")
    return 0 if total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
