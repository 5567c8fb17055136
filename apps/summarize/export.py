"""Export a trained DialogSum summarizer (its workdir's preset) as a SavedModel for stock TF
Serving: a dialogue `text` in, its `summary` out, beam search inside the graph.

    python -m apps.summarize.export --workdir=/tmp/summarize --base_dir=saved_models/summarization \
        --quantize=int8_int4_embeddings --prune_vocabulary --nogreedy_signature

Signatures `serving_default` (beam search) and, unless --nogreedy_signature (the shipped model
leaves it out to stay under 25 MB), `greedy`; see keras_llm.export.seq2seq. Writes
`<base_dir>/<N>/` atomically with warmup requests, then runs keras_llm.export.check on it.
"""
from absl import flags

from keras_llm.finetune import cli

if __name__ == "__main__":
    from apps.summarize import config
    flags.adopt_module_key_flags(cli)  # --help lists them with this command's own
    cli.seq2seq_export(config.module, "saved_models/summarization")
