"""Greedy generation speed, side by side in one process: our exported SavedModel, our in-process
sampler (tf.function, and XLA), our sampler without the KV cache, and KerasHub's
`GPT2CausalLM.generate` (XLA-compiled), on the same GPT config.

    flock /tmp/bench.lock python -m benchmarks.generate                 # random weights
    python -m benchmarks.generate --preset=/tmp/gen/preset               # a trained model

Config: 4 layers x 256 (4 heads, 1024 feed-forward), 256 positions, a byte-level BPE of
--vocabulary_size tokens (trained on the packaged Tiny Shakespeare, or the preset's); prompts
of 32 tokens, 128 new tokens, greedy, batch 1 and 8. KerasHub gets the same dimensions
(its weights random: speed does not depend on them) and `stop_token_ids=None`, so it always
generates 128 tokens; ours count the tokens actually generated (a row may stop at the end
token), and tokens/s uses that count. Each method runs once to compile, then --repeats times
in rotation (A B C ... A B C); the median time is reported, and ratios to KerasHub and of
cache to no cache. Writes benchmarks/results/generate.json and .md (or --output_prefix).
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

PROMPT_TOKENS, NEW_TOKENS = 32, 128
CONFIG = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024,
              max_sequence_length=256)


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="", help="GPT preset (apps.generate workdir/preset); "
                        "default: random weights and a BPE trained here.")
    parser.add_argument("--vocabulary_size", type=int, default=2048)
    parser.add_argument("--batch_sizes", default="1,8")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip_keras_hub", action="store_true")
    parser.add_argument("--output_prefix", default="benchmarks/results/generate")
    return parser.parse_args()


def _model(args, workdir):
    """(preset dir, tokenizer, GptCausalLM)."""
    import keras  # pylint: disable=import-outside-toplevel
    from keras_llm.models.gpt.backbone import GptBackbone  # pylint: disable=import-outside-toplevel
    from keras_llm.models.gpt.causal_lm import GptCausalLM  # pylint: disable=import-outside-toplevel
    from keras_llm.tokenizers import BytePairTokenizer, save_bpe, train_bpe  # pylint: disable=import-outside-toplevel
    from keras_llm.training.config import PACKAGED_CORPUS  # pylint: disable=import-outside-toplevel
    preset = args.preset
    if not preset:
        text = PACKAGED_CORPUS.read_text(encoding="utf-8")[:200_000]
        vocab, merges = train_bpe(text.split("\n\n"), args.vocabulary_size)
        files = save_bpe(vocab, merges, os.path.join(workdir, "vocab"))
        keras.utils.set_random_seed(0)
        backbone = GptBackbone(len(vocab), dropout=0.0, **CONFIG)
        preset = os.path.join(workdir, "preset")
        backbone.save_to_preset(preset, tokenizer_files=files)
    backbone = GptBackbone.from_preset(preset, dropout=0.0)
    tokenizer = BytePairTokenizer(os.path.join(preset, "vocab.json"),
                                  os.path.join(preset, "merges.txt"))
    return preset, tokenizer, GptCausalLM(backbone)


def _prompts(tokenizer, batch_size):
    """`batch_size` texts of exactly PROMPT_TOKENS tokens (cut from the corpus, re-checked)."""
    from keras_llm.training.config import PACKAGED_CORPUS  # pylint: disable=import-outside-toplevel
    words = PACKAGED_CORPUS.read_text(encoding="utf-8")[5000:60000].split(" ")
    texts, ids, start = [], [], 0
    while len(texts) < batch_size:
        for stop in range(start + 1, len(words)):
            text = " ".join(words[start:stop])
            encoded = tokenizer.encode([text])[0]
            if len(encoded) >= PROMPT_TOKENS:
                encoded = encoded[:PROMPT_TOKENS]
                text = tokenizer.decode([encoded])[0]
                if tokenizer.encode([text])[0] == encoded:
                    texts.append(text)
                    ids.append(encoded)
                start = stop
                break
    return texts, ids


def main():
    args = _parse()
    import numpy as np  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from keras_llm import export, samplers  # pylint: disable=import-outside-toplevel
    from keras_llm.export.generation import generate_inputs, module_from_preset  # pylint: disable=import-outside-toplevel
    from keras_llm.utils import report  # pylint: disable=import-outside-toplevel

    workdir = tempfile.mkdtemp(prefix="bench_generate_")
    preset, tokenizer, lm = _model(args, workdir)
    saved = export.export(module_from_preset(preset, default_max_new_tokens=NEW_TOKENS),
                          os.path.join(workdir, "models"))
    loaded = tf.saved_model.load(str(saved))
    end = tokenizer.token_to_id("<|endoftext|>")
    total = PROMPT_TOKENS + NEW_TOKENS

    def cached(ids, mask):
        return samplers.generate(lm, samplers.GreedySampler(), ids, mask, total,
                                 max_new_tokens=NEW_TOKENS)["tokens"]

    def uncached(ids, mask):
        """Greedy without a cache: every step runs the whole (B, total) buffer; the "cache"
        handed through the sampler is that token buffer."""
        tokens = tf.pad(ids, [[0, 0], [0, NEW_TOKENS]])

        def next_fn(token, buffer, index):
            buffer = samplers.base.write_column(buffer, index, token[:, 0])
            real = tf.cast(tf.range(total)[None, :] <= index, tf.int32)
            logits = lm({"token_ids": buffer,
                         "padding_mask": tf.broadcast_to(real, tf.shape(buffer))},
                        training=False)
            return tf.gather(logits, [index], axis=1), buffer

        return samplers.GreedySampler()(next_fn, tokens, tokens, PROMPT_TOKENS - 1,
                                        max_new_tokens=NEW_TOKENS)["tokens"]

    methods = {"ours_in_process": tf.function(cached),
               "ours_in_process_xla": tf.function(cached, jit_compile=True),
               "ours_no_cache": tf.function(uncached)}
    keras_hub_lm = None
    if not args.skip_keras_hub:
        import keras_hub  # pylint: disable=import-outside-toplevel
        hub_backbone = keras_hub.models.GPT2Backbone(vocabulary_size=tokenizer.vocabulary_size,
                                                     dropout=0.0, **CONFIG)
        keras_hub_lm = keras_hub.models.GPT2CausalLM(backbone=hub_backbone, preprocessor=None)
        keras_hub_lm.compile(sampler="greedy")

    rows = []
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        texts, ids = _prompts(tokenizer, batch_size)
        ids = tf.constant(ids, tf.int32)
        mask = tf.ones_like(ids)
        calls = {name: (lambda f=f: f(ids, mask).numpy()) for name, f in methods.items()}
        counts = {name: batch_size * NEW_TOKENS for name in calls}

        greedy = generate_inputs(texts, NEW_TOKENS)

        def saved_model_call():
            out = loaded.signatures["generate"](**greedy)
            counts["ours_saved_model"] = int(out["num_tokens"].numpy().sum())
        calls["ours_saved_model"] = saved_model_call
        if keras_hub_lm is not None:
            padded = np.zeros((batch_size, total), np.int32)
            padded[:, :PROMPT_TOKENS] = ids.numpy()
            hub_inputs = {"token_ids": padded,
                          "padding_mask": (np.arange(total)[None] < PROMPT_TOKENS).repeat(
                                  batch_size, 0)}
            calls["keras_hub"] = lambda: keras_hub_lm.generate(hub_inputs, stop_token_ids=None)
            counts["keras_hub"] = batch_size * NEW_TOKENS
        for call in calls.values():  # compile / trace / warm up
            call()
        times = {name: [] for name in calls}
        for _ in range(args.repeats):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
        for name in calls:
            seconds = statistics.median(times[name])
            rows.append({"method": name, "batch_size": batch_size, "new_tokens": counts[name],
                         "median_seconds": round(seconds, 4),
                         "tokens_per_second": round(counts[name] / seconds, 1),
                         "seconds": [round(t, 4) for t in times[name]]})
        print(rows[-len(calls):], flush=True)

    def rate(method, batch_size):
        return next(r["tokens_per_second"] for r in rows
                    if r["method"] == method and r["batch_size"] == batch_size)

    ratios = {}
    for batch_size in sorted({r["batch_size"] for r in rows}):
        if keras_hub_lm is not None:
            for name in ("ours_saved_model", "ours_in_process", "ours_in_process_xla"):
                ratios[f"{name}_vs_keras_hub_batch{batch_size}"] = round(
                        rate(name, batch_size) / rate("keras_hub", batch_size), 2)
        ratios[f"cache_vs_no_cache_batch{batch_size}"] = round(
                rate("ours_in_process", batch_size) / rate("ours_no_cache", batch_size), 2)
    record = report.new_record(config={**CONFIG, "vocabulary_size": tokenizer.vocabulary_size,
                                       "prompt_tokens": PROMPT_TOKENS,
                                       "new_tokens": NEW_TOKENS, "sampler": "greedy",
                                       "weights": args.preset or "random"},
                               repeats=args.repeats, rows=rows, ratios=ratios)
    table = {f"{r['method']} batch {r['batch_size']}":
             f"{r['tokens_per_second']} tok/s ({r['new_tokens']} tokens, median "
             f"{r['median_seconds']} s)" for r in rows}
    table.update(ratios)
    report.write(args.output_prefix, record, "Greedy generation speed (new tokens/s)", table,
                 ["Methods: `ours_saved_model` = the exported `generate` signature (raw text in, "
                  "tokenizer and loop in the graph); `ours_in_process` = keras_llm.samplers "
                  "GreedySampler + GptCausalLM.call_with_cache in a tf.function (`_xla`: "
                  "jit_compile=True); `ours_no_cache` = the same sampler re-running the whole "
                  "buffer each step; `keras_hub` = GPT2CausalLM.generate (XLA, greedy)."])
    print(record["ratios"])


if __name__ == "__main__":
    main()
