"""Text generation SavedModel: prompt strings in, continuations out, decoding inside the graph.

`TextGenerationModule(tokenizer, lm, start_token_id, end_token_id)` on the `TextTaskModule`
hooks (preprocess -> forward -> postprocess) with a `GptCausalLM` and a graph tokenizer with
`detokenize` (byte-level BPE). Shapes: B batch, P padded prompt, C the model's context.

Signatures (every input has the batch dimension, so server-side batching works):
- `serving_default`: `prompt` (B,) -> `text` (B,): greedy, `default_max_new_tokens` tokens.
- `generate`: `prompt`, `max_new_tokens` int32, `temperature` float32, `top_k` int32,
  `top_p` float32, `seed` int32 (each (B,)) -> `text` (B,), `num_tokens` int32 (B,).
  temperature 0 is greedy, top_k 0 and top_p 1 turn those filters off; a row's text depends
  only on its own prompt, parameters and seed (stateless sampling), never on the batch.
  Out-of-range values fail from inside the graph with InvalidArgumentError naming the input
  (TF Serving answers INVALID_ARGUMENT): max_new_tokens outside [0, C - 1], temperature < 0,
  top_k < 0, top_p outside (0, 1], or a parameter without one value per prompt.
- `score`: `text` (B,) -> `log_likelihood` float32 (B,): natural-log probability of all of
  the text's tokens, each conditioned on the start token and the tokens before it;
  `num_tokens` int32 (B,). Texts longer than the context are scored with sliding windows of
  C tokens moving by C // 2: every token is scored once, with at least C // 2 tokens of
  context once the text is longer than C (perplexity = exp(-log_likelihood / num_tokens)).

Generation: the prompt's tokens after a start token, its last C - 1 - max(max_new_tokens)
tokens kept; rows left-padded (`keras_llm.samplers.left_pad`), one prefill, then
`TopPSampler` with per-row parameters through `GptCausalLM.call_with_cache` (per-row cache
padding mask and positions: each row decodes as it would alone). A row stops at the end
token (not part of `text`) or after max_new_tokens. Core TF ops only.
"""
from typing import Dict

import tensorflow as tf

from keras_llm import samplers
from keras_llm.export import warmup
from keras_llm.export.module import EXAMPLE_TEXTS, TextTaskModule

GENERATE_INPUTS = {"max_new_tokens": tf.int32, "temperature": tf.float32, "top_k": tf.int32,
                   "top_p": tf.float32, "seed": tf.int32}


def generate_inputs(prompts, max_new_tokens=64, temperature=0.0, top_k=0, top_p=1.0,
                    seed=0) -> Dict[str, tf.Tensor]:
    """The `generate` signature's inputs: `prompts` (strings or a tf.string (B,) tensor) and
    each parameter as one value for every row or a value per row, cast to its dtype (B,).
    Greedy by default."""
    prompt = tf.convert_to_tensor(prompts, tf.string)
    batch = tf.shape(prompt)[:1]
    values = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k,
              "top_p": top_p, "seed": seed}
    return {"prompt": prompt, **{name: tf.broadcast_to(tf.cast(value, GENERATE_INPUTS[name]),
                                                       batch)
                                 for name, value in values.items()}}


class TextGenerationModule(TextTaskModule):
    """See the module docstring."""

    TEXT_INPUTS = ("prompt",)
    MODEL_INPUTS = ("token_ids", "padding_mask")

    def __init__(self, tokenizer, lm, start_token_id: int, end_token_id: int,
                 default_max_new_tokens: int = 64, max_input_chars: int = 8192,
                 max_score_chars: int = 1_000_000, name=None):
        super().__init__(tokenizer, lm, max_input_chars=max_input_chars, name=name)
        self.context_length = int(lm.backbone.max_sequence_length)
        self.max_new_tokens_limit = self.context_length - 1  # the start token is the prompt
        if not 0 < default_max_new_tokens <= self.max_new_tokens_limit:
            raise ValueError(f"default_max_new_tokens must be in [1, "
                             f"{self.max_new_tokens_limit}], got {default_max_new_tokens}.")
        self.start_token_id = int(start_token_id)
        self.end_token_id = int(end_token_id)
        self.default_max_new_tokens = int(default_max_new_tokens)
        self.max_score_chars = int(max_score_chars)

    # ---- generation hooks ----------------------------------------------------------------
    def preprocess(self, inputs):
        """Prompts -> left-padded ids [start] + prompt tail, with the checked parameters."""
        params = self.check_parameters(inputs)
        longest = tf.reduce_max(tf.concat([params["max_new_tokens"], [0]], 0))
        ids = tf.cast(self.preprocessor(inputs["prompt"]), tf.int32)  # ragged (B, None)
        keep = self.context_length - 1 - longest  # prompt tokens that fit next to the new ones
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        ids = tf.gather(ids, tf.ragged.range(tf.maximum(lengths - keep, 0), lengths),
                        batch_dims=1)
        start = tf.fill([ids.nrows(), 1], self.start_token_id)
        token_ids, mask = samplers.left_pad(tf.concat([start, ids], axis=1),
                                            pad_token_id=self.end_token_id)
        return {"token_ids": token_ids, "padding_mask": mask, **params}, {}

    def forward(self, inputs, greedy=False):
        """Prefill + the sampler (`GreedySampler` when `greedy`, else per-row top-k/top-p)."""
        max_new = inputs["max_new_tokens"]
        total = tf.shape(inputs["token_ids"])[1] + tf.reduce_max(tf.concat([max_new, [0]], 0))
        tokens, cache, index = samplers.prefill(self.model, inputs["token_ids"],
                                                inputs["padding_mask"], total)
        if greedy:
            sampler = samplers.GreedySampler(pad_token_id=self.end_token_id)
        else:
            sampler = samplers.TopPSampler(p=inputs["top_p"], k=inputs["top_k"],
                                           temperature=inputs["temperature"],
                                           pad_token_id=self.end_token_id)
        out = sampler(self.model.call_with_cache, tokens, cache, index,
                      max_new_tokens=max_new, end_token_id=self.end_token_id,
                      seed=inputs["seed"])
        return {"tokens": out["tokens"][:, index + 1:], "num_tokens": out["num_tokens"]}

    def postprocess(self, outputs, context):
        new = tf.RaggedTensor.from_tensor(outputs["tokens"], lengths=outputs["num_tokens"])
        return {"text": self.preprocessor.detokenize(new), "num_tokens": outputs["num_tokens"]}

    def check_parameters(self, inputs) -> Dict[str, tf.Tensor]:
        """The generation parameters, each (B,), asserted in range (InvalidArgumentError
        naming the input) before anything else runs."""
        batch = tf.shape(inputs["prompt"])[0]
        limit = self.max_new_tokens_limit
        params = {name: inputs[name] for name in GENERATE_INPUTS}
        checks = [tf.debugging.assert_equal(
                tf.shape(value)[0], batch,
                message=f"{name} must have one value per prompt (same batch size as prompt)")
                for name, value in params.items()]
        checks += [
                tf.debugging.assert_greater_equal(
                        params["max_new_tokens"], 0, message="max_new_tokens must be >= 0"),
                tf.debugging.assert_less_equal(
                        params["max_new_tokens"], limit,
                        message=f"max_new_tokens must be <= {limit} (the model's context "
                                f"of {self.context_length} tokens minus the start token)"),
                tf.debugging.assert_greater_equal(
                        params["temperature"], 0.0,
                        message="temperature must be >= 0 (0 = greedy)"),
                tf.debugging.assert_greater_equal(
                        params["top_k"], 0, message="top_k must be >= 0 (0 = no top-k filter)"),
                tf.debugging.assert_greater(
                        params["top_p"], 0.0, message="top_p must be in (0, 1]"),
                tf.debugging.assert_less_equal(
                        params["top_p"], 1.0, message="top_p must be in (0, 1]")]
        with tf.control_dependencies(checks):
            return {name: tf.identity(value) for name, value in params.items()}

    # ---- signatures ------------------------------------------------------------------------
    def serve_prompts(self, inputs, greedy=False):
        """`generate` body: the prompt's end is kept when it is longer than the limit."""
        inputs = dict(inputs)
        inputs["prompt"] = self.clean_text(inputs["prompt"], keep_end=True)
        model_inputs, context = self.preprocess(inputs)
        return self.postprocess(self.forward(model_inputs, greedy=greedy), context)

    def serve_default(self, inputs):
        greedy = generate_inputs(inputs["prompt"], self.default_max_new_tokens)
        return {"text": self.serve_prompts(greedy, greedy=True)["text"]}

    def serve_score(self, inputs):
        text = self.clean_text(inputs["text"], max_chars=self.max_score_chars)
        ids = tf.cast(self.preprocessor(text), tf.int32)
        splits = tf.cast(ids.row_splits, tf.int32)

        def score_row(i):
            row = tf.concat([[self.start_token_id], ids.values[splits[i]:splits[i + 1]]], 0)
            return self.log_likelihood(row)

        log_likelihood = tf.map_fn(score_row, tf.range(ids.nrows(out_type=tf.int32)),
                                   fn_output_signature=tf.float32)
        return {"log_likelihood": log_likelihood,
                "num_tokens": tf.cast(ids.row_lengths(), tf.int32)}

    def log_likelihood(self, row):
        """Sum of log p(row[t] | row[:t]) for t >= 1, sliding windows (module docstring)."""
        length, window = tf.shape(row)[0], self.context_length
        stride = max(window // 2, 1)
        count = 1 + tf.maximum(0, (length - window + stride - 1) // stride)

        def score_window(w):
            begin = w * stride
            positions = begin + tf.range(window)
            valid = positions < length
            token_ids = tf.where(valid, tf.gather(row, tf.minimum(positions, length - 1)),
                                 self.end_token_id)
            logits = self.call_model({"token_ids": token_ids[None],
                                      "padding_mask": tf.cast(valid, tf.int32)[None]})[0]  # (C, V)
            log_probs = tf.nn.log_softmax(tf.cast(logits[:-1], tf.float32))
            target = tf.gather(log_probs, token_ids[1:], batch_dims=1)  # (C - 1,)
            first = tf.where(w == 0, 1, begin + window - stride)  # earlier windows scored the rest
            scored = valid[1:] & (positions[1:] >= first)
            return tf.reduce_sum(tf.where(scored, target, 0.0))

        return tf.reduce_sum(tf.map_fn(score_window, tf.range(count),
                                       fn_output_signature=tf.float32))

    def signatures(self):
        score_spec = {"text": tf.TensorSpec([None], tf.string, name="text")}
        return {
                "serving_default": self.text_signature(fn=self.serve_default),
                "generate": self.text_signature(GENERATE_INPUTS, fn=self.serve_prompts),
                "score": tf.function(self.serve_score, input_signature=[score_spec])
                .get_concrete_function(),
        }

    def warmup_logs(self):
        prompts = tf.constant(EXAMPLE_TEXTS).numpy()
        params = generate_inputs(prompts, 4, temperature=[0.0, 0.8, 1.0, 1.2],
                                 top_k=[0, 40, 0, 5], top_p=[1.0, 0.9, 0.5, 1.0],
                                 seed=list(range(len(EXAMPLE_TEXTS))))
        params = {name: value.numpy() for name, value in params.items()}
        return [warmup.predict_log("serving_default", {"prompt": prompts}),
                warmup.predict_log("generate", params),
                warmup.predict_log("score", {"text": prompts})]


def module_from_preset(preset_dir, default_max_new_tokens: int = 64,
                       quantize: str = "", fit_default: bool = False,
                       **kwargs) -> TextGenerationModule:
    """A `TextGenerationModule` for a GPT preset holding a byte-level BPE (`vocab.json`,
    `merges.txt`), as `keras_llm.train --export_preset` writes it; optionally quantized
    (keras_llm.models.quantization mode). `fit_default`: cap the default length at what the
    model's context allows instead of failing."""
    import pathlib  # pylint: disable=import-outside-toplevel
    from keras_llm.models.gpt.backbone import GptBackbone  # pylint: disable=import-outside-toplevel
    from keras_llm.models.gpt.causal_lm import GptCausalLM  # pylint: disable=import-outside-toplevel
    from keras_llm.tokenizers.byte_pair import BytePairTokenizer  # pylint: disable=import-outside-toplevel
    from keras_llm.training.tokenizer import special_token_ids  # pylint: disable=import-outside-toplevel
    preset_dir = pathlib.Path(preset_dir)
    lm = GptCausalLM(GptBackbone.from_preset(preset_dir, dropout=0.0))
    if quantize:
        from keras_llm.models import quantization  # pylint: disable=import-outside-toplevel
        quantization.quantize(lm, quantize)
    tokenizer = BytePairTokenizer(str(preset_dir / "vocab.json"), str(preset_dir / "merges.txt"))
    special = special_token_ids(tokenizer)
    if fit_default:
        default_max_new_tokens = min(default_max_new_tokens, lm.backbone.max_sequence_length - 1)
    return TextGenerationModule(tokenizer, lm, special["start"], special["end"],
                                default_max_new_tokens=default_max_new_tokens, **kwargs)
