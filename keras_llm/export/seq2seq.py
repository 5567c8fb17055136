"""Sequence-to-sequence SavedModel: source strings in, target strings out (translation,
summarization), beam search inside the graph.

`Seq2SeqGenerationModule(tokenizer, lm, start_token_id, end_token_id)` on the `TextTaskModule`
hooks with a `Seq2SeqLM` and a graph tokenizer with `detokenize`. Shapes: B batch, S source
tokens, K beams, T_max = max target tokens + 1 (the start token).

Signatures (input `text` tf.string (B,), output named by `output_name`, e.g. `translation`):
- `serving_default`: beam search with `num_beams` beams and the GNMT length penalty.
- `greedy` (unless `greedy=False`, e.g. to fit a size budget: it repeats the tokenizer and a
  second decoding loop in the graph): one hypothesis per source, token by token (faster; what
  beam width 1 gives).

Preprocess: the source's tokens cut to `max_source_tokens - 2`, between the start and end
tokens (as `keras_llm.training.data` packs training pairs), right-padded. Forward: the encoder
runs once per source; `init_cache` projects every decoder layer's cross-attention keys/values
once; the sampler then drives `Seq2SeqLM.call_with_cache` (beams reorder the cache with one
gather on the batch axis). At most `min(max_target_tokens, 2 * S + 10)` new tokens per batch:
a model that never emits the end token still stops. An empty (or all-space) source gives an
empty output; a source longer than the limit is truncated and still translated. Core TF ops
only (the beam bookkeeping is gathers and top-k, no `GatherTree`). `output_rewrites`, pairs
of (RE2 pattern, rewrite) applied in order to each output (`tf.strings.regex_replace`), tidy the
detokenized text, e.g. WordPiece's "# person1 # ' s" back to "#Person1#'s".
`keep_served_positions` (module_from_preset sets it) cuts the model's position tables to the
limits, in place, before the module tracks its variables: the export ships only rows it reads.
"""
import logging
import pathlib
from typing import Iterable, Iterator, Optional, Sequence, Tuple

import tensorflow as tf

from keras_llm import samplers
from keras_llm.export import warmup
from keras_llm.export.module import EXAMPLE_TEXTS, TextTaskModule

SOURCE_KEYS = ("encoder_token_ids", "encoder_padding_mask")
TRAINING_LENGTH = "training"  # module_from_workdir(max_source_tokens=TRAINING_LENGTH)


class Seq2SeqGenerationModule(TextTaskModule):
    """See the module docstring."""

    MODEL_INPUTS = ("encoder_token_ids", "encoder_padding_mask", "decoder_token_ids",
                    "decoder_padding_mask")

    def __init__(self, tokenizer, lm, start_token_id: int, end_token_id: int,
                 output_name: str = "output", num_beams: int = 4, length_penalty: float = 0.6,
                 max_source_tokens: int = None, max_target_tokens: int = None,
                 greedy: bool = True, output_rewrites: Sequence[Tuple[str, str]] = (),
                 keep_served_positions: bool = False, max_input_chars: int = 8192, name=None):
        limit = int(lm.backbone.max_sequence_length)
        self.max_source_tokens = int(limit if max_source_tokens is None else max_source_tokens)
        self.max_target_tokens = int(limit - 1 if max_target_tokens is None
                                     else max_target_tokens)
        if not 3 <= self.max_source_tokens <= limit:
            raise ValueError(f"max_source_tokens must be in [3, {limit}] (the model's "
                             f"positions), got {self.max_source_tokens}.")
        if not 1 <= self.max_target_tokens <= limit - 1:
            raise ValueError(f"max_target_tokens must be in [1, {limit - 1}] (the model's "
                             f"positions minus the start token), got {self.max_target_tokens}.")
        if keep_served_positions:  # rows past the limits are never read: they need not ship
            lm.backbone.keep_positions(self.max_source_tokens, self.max_target_tokens + 1)
        super().__init__(tokenizer, lm, max_input_chars=max_input_chars, name=name)
        self.start_token_id = int(start_token_id)
        self.end_token_id = int(end_token_id)
        self.output_name = output_name
        self.num_beams = int(num_beams)
        self.beam_sampler = samplers.BeamSampler(num_beams, length_penalty=length_penalty,
                                                 pad_token_id=end_token_id)
        self.greedy_sampler = samplers.GreedySampler(pad_token_id=end_token_id)
        self.greedy = bool(greedy)
        self.output_rewrites = tuple((str(p), str(r)) for p, r in output_rewrites)

    # ---- hooks -------------------------------------------------------------------------------
    def preprocess(self, texts):
        """Sources -> right-padded [start] tokens [end] ids and mask; context: empty rows."""
        text = texts["text"]
        ids = tf.cast(self.preprocessor(text), tf.int32)[:, :self.max_source_tokens - 2]
        rows = ids.nrows()
        ids = tf.concat([tf.fill([rows, 1], self.start_token_id), ids,
                         tf.fill([rows, 1], self.end_token_id)], axis=1)
        inputs = {"encoder_token_ids": ids.to_tensor(default_value=self.end_token_id),
                  "encoder_padding_mask": tf.ones_like(ids).to_tensor()}
        empty = tf.equal(tf.strings.length(tf.strings.strip(text)), 0)
        return inputs, {"empty": empty}

    def forward(self, inputs, greedy=False):
        """Encoder once, cross-attention cache once, then beam search (or greedy)."""
        ids, mask = inputs["encoder_token_ids"], inputs["encoder_padding_mask"]
        batch, source_length = tf.shape(ids)[0], tf.shape(ids)[1]
        max_new = tf.minimum(self.max_target_tokens, 2 * source_length + 10)
        encoded = self.model.encode(ids, mask)
        cache = self.model.init_cache(encoded, mask, max_new + 1)
        tokens = tf.pad(tf.fill([batch, 1], self.start_token_id), [[0, 0], [0, max_new]])
        sampler = self.greedy_sampler if greedy else self.beam_sampler
        out = sampler(self.model.call_with_cache, tokens, cache, 0, max_new_tokens=max_new,
                      end_token_id=self.end_token_id)
        return {"tokens": out["tokens"][:, 1:], "num_tokens": out["num_tokens"]}

    def postprocess(self, outputs, context):
        new = tf.RaggedTensor.from_tensor(outputs["tokens"], lengths=outputs["num_tokens"])
        text = self.preprocessor.detokenize(new)
        for pattern, rewrite in self.output_rewrites:
            text = tf.strings.regex_replace(text, pattern, rewrite)
        return {self.output_name: tf.where(context["empty"], "", text)}

    # ---- signatures ------------------------------------------------------------------------
    def serve(self, inputs, greedy=False):
        model_inputs, context = self.preprocess({"text": self.clean_text(inputs["text"])})
        return self.postprocess(self.forward(model_inputs, greedy=greedy), context)

    def serve_greedy(self, inputs):
        return self.serve(inputs, greedy=True)

    def signatures(self):
        found = {"serving_default": self.text_signature(fn=self.serve)}
        if self.greedy:
            found["greedy"] = self.text_signature(fn=self.serve_greedy)
        return found

    def warmup_logs(self):
        texts = {"text": tf.constant(EXAMPLE_TEXTS).numpy()}
        names = ("serving_default", "greedy") if self.greedy else ("serving_default",)
        return [warmup.predict_log(name, texts) for name in names]


def module_from_preset(preset_dir, output_name: str, quantize: str = "", lowercase: bool = True,
                       prune_texts: Optional[Iterable[str]] = None,
                       **kwargs) -> Seq2SeqGenerationModule:
    """A `Seq2SeqGenerationModule` for a `Seq2SeqBackbone` preset, as `keras_llm.train
    --export_preset` writes it, holding a byte-level BPE (`vocab.json`, `merges.txt`) or a
    WordPiece vocabulary (`vocab.txt`; `lowercase` for uncased ones such as MiniLM's);
    optionally quantized (a keras_llm.models.quantization mode). `prune_texts` (WordPiece
    only; e.g. `training_texts(workdir)`) keeps just the pieces those texts use, plus specials
    and single characters (keras_llm.models.bert.shrink): they tokenize as before, the tied
    embedding table (input and output) shrinks. `kwargs` go to the module (num_beams,
    length_penalty, max_source_tokens, max_target_tokens...)."""
    from keras_llm.models.seq2seq import Seq2SeqBackbone, Seq2SeqLM  # pylint: disable=import-outside-toplevel
    from keras_llm.training.tokenizer import special_token_ids  # pylint: disable=import-outside-toplevel
    preset_dir = pathlib.Path(preset_dir)
    lm = Seq2SeqLM(Seq2SeqBackbone.from_preset(preset_dir, dropout=0.0))
    if (preset_dir / "vocab.json").is_file():
        if prune_texts is not None:
            raise ValueError(f"Vocabulary pruning needs a WordPiece preset (vocab.txt); "
                             f"{preset_dir} holds a byte-level BPE (vocab.json).")
        from keras_llm.tokenizers.byte_pair import BytePairTokenizer  # pylint: disable=import-outside-toplevel
        tokenizer = BytePairTokenizer(str(preset_dir / "vocab.json"),
                                      str(preset_dir / "merges.txt"))
    elif (preset_dir / "vocab.txt").is_file():
        from keras_llm.tokenizers.wordpiece import WordPieceTokenizer, load_vocabulary  # pylint: disable=import-outside-toplevel
        vocabulary = load_vocabulary(str(preset_dir / "vocab.txt"))
        if prune_texts is not None:
            from keras_llm.models.bert import shrink  # pylint: disable=import-outside-toplevel
            encoded = WordPieceTokenizer(vocabulary, lowercase=lowercase).encode(list(prune_texts))
            size = len(vocabulary)
            vocabulary = shrink.prune_vocabulary(lm.backbone, vocabulary, encoded)
            logging.info("Vocabulary pruned to the given texts' pieces: %d of %d.",
                         len(vocabulary), size)
        tokenizer = WordPieceTokenizer(vocabulary, lowercase=lowercase)
    else:
        raise FileNotFoundError(f"{preset_dir} holds no tokenizer (vocab.json + merges.txt, "
                                "or vocab.txt).")
    if quantize:
        from keras_llm.models import quantization  # pylint: disable=import-outside-toplevel
        quantization.quantize(lm, quantize)
    special = special_token_ids(tokenizer)
    return Seq2SeqGenerationModule(tokenizer, lm, special["start"], special["end"],
                                   output_name=output_name, keep_served_positions=True,
                                   **kwargs)


def module_from_workdir(workdir, preset_name: str, output_name: str, quantize: str = "",
                        prune_vocabulary: bool = False, **kwargs) -> Seq2SeqGenerationModule:
    """`module_from_preset` for a keras_llm.train workdir whose training exported its preset
    into `<workdir>/<preset_name>` (the app's `train.run(preset_in_workdir=...)`): the
    tokenizer's case from its config.json, and with
    `prune_vocabulary` the vocabulary pruned to its training texts (`training_texts`).
    `max_source_tokens=TRAINING_LENGTH` cuts sources at the training sequence length."""
    import json  # pylint: disable=import-outside-toplevel
    workdir = pathlib.Path(workdir)
    preset = workdir / preset_name
    if not preset.is_dir():
        raise FileNotFoundError(f"{preset} does not exist: train into {workdir} first (the "
                                "app's train command writes the preset when it finishes).")
    trained = json.loads((workdir / "config.json").read_text(encoding="utf-8"))
    if kwargs.get("max_source_tokens") == TRAINING_LENGTH:
        kwargs["max_source_tokens"] = trained["data"]["sequence_length"]
    return module_from_preset(preset, output_name, quantize=quantize,
                              lowercase=trained["tokenizer"].get("lowercase", True),
                              prune_texts=training_texts(workdir) if prune_vocabulary else None,
                              **kwargs)


def training_texts(workdir) -> Iterator[str]:
    """The training split's source and target texts of a keras_llm.train workdir (its
    config.json; never the held-out part): what `prune_texts` should keep."""
    import json  # pylint: disable=import-outside-toplevel
    from keras_llm.training import data  # pylint: disable=import-outside-toplevel
    from keras_llm.training.config import TrainConfig  # pylint: disable=import-outside-toplevel
    from keras_llm.utils.config import from_dict  # pylint: disable=import-outside-toplevel
    values = json.loads((pathlib.Path(workdir) / "config.json").read_text(encoding="utf-8"))
    return data.texts_for_vocabulary(from_dict(TrainConfig, values))
