"""Decoding library: samplers behind one `next_fn(tokens, cache, index) -> (logits, cache)`.

Samplers (`GreedySampler`, `TemperatureSampler`, `TopKSampler`, `TopPSampler`,
`BeamSampler`) see the model only through `next_fn`; `GptCausalLM.call_with_cache` and
`Seq2SeqLM.call_with_cache` are such functions (the Seq2Seq source lives in its cache).
`left_pad` / `prefill` / `generate` drive a decoder-only LM.

Design note: how the generation export (issue 16) will call these samplers.
- One tf.Module, all signatures `@tf.function` with explicit (None,) specs; the
  tokenizer runs in the graph (byte-level BPE, core ops), as in `TextTaskModule`.
- `generate(prompt, max_new_tokens, temperature, top_k, top_p, seed)`, every input (B,):
  1. Validate in the graph, before any XLA part (tf.debugging asserts do nothing under
     jit_compile): max_new_tokens in [0, T_max - P], temperature >= 0, top_p in (0, 1],
     top_k >= 0, each assert's message naming the input, so TF Serving answers
     INVALID_ARGUMENT.
  2. Tokenize to a RaggedTensor, prepend the start token (every row then has a real
     token), keep the last `context - max(max_new_tokens)` tokens, `left_pad`.
  3. `prefill(lm, ids, mask, T_max)` with T_max = P + max(max_new_tokens) (at most the
     context): the per-row cache mask and position ids make every row decode as alone.
  4. `TopPSampler(p=top_p, k=top_k, temperature=temperature)(lm.call_with_cache, tokens,
     cache, P - 1, max_new_tokens=max_new_tokens, end_token_id=<end of text>,
     seed=seed)`: all per-row tensors; temperature 0 rows are greedy, top_k 0 and top_p
     1 disable those filters; a row's text depends only on its prompt, parameters and
     seed (stateless per-row seeds), so server-side batching does not change it. The
     model step (`call_with_cache`) may be a jit_compile'd tf.function.
  5. Detokenize `tokens[:, P:]` cut to `num_tokens` per row (the end token dropped) ->
     `text`, and return `num_tokens`.
- `serving_default(prompt)`: the same path with `GreedySampler` and a documented default
  max_new_tokens.
- `score(text)`: no sampler; a full forward pass (or sliding windows over the context)
  summing log-softmax of each token after a start token.
- Same seed host vs export: the host path calls the same `generate` function with the
  same tensors; stateless ops make the tokens identical (compare outside XLA, whose
  stateless RNG lowering may differ from the CPU kernels).
"""
from keras_llm.samplers.base import Sampler
from keras_llm.samplers.beam import BeamSampler
from keras_llm.samplers.causal_lm import generate, left_pad, prefill
from keras_llm.samplers.greedy import GreedySampler
from keras_llm.samplers.stochastic import (TemperatureSampler, TopKSampler, TopPSampler,
                                           top_k_logits, top_p_logits)

__all__ = [
    "BeamSampler", "GreedySampler", "Sampler", "TemperatureSampler", "TopKSampler",
    "TopPSampler", "generate", "left_pad", "prefill", "top_k_logits", "top_p_logits",
]
