"""TextGenerationModule on a tiny random GPT and a small trained byte-level BPE: greedy ==
the in-process sampler, seeded sampling reproducible and batch-independent after export,
`score` == a direct full forward pass (and sliding windows beyond the context), parameters
out of range -> InvalidArgumentError naming the input, keras-llm-check passes."""
import numpy as np
import pytest
import tensorflow as tf

from keras_llm import export, samplers
from keras_llm.export.generation import TextGenerationModule
from keras_llm.models.gpt.backbone import GptBackbone
from keras_llm.models.gpt.causal_lm import GptCausalLM
from keras_llm.tokenizers.bpe_trainer import save_bpe, train_bpe
from keras_llm.tokenizers.byte_pair import BytePairTokenizer

CONTEXT = 24
TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to "
        "suffer\nThe slings and arrows of outrageous fortune,\n") * 3


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("generation")
    vocab, merges = train_bpe([TEXT], 300)
    vocab_path, merges_path = save_bpe(vocab, merges, str(root / "vocab"))
    tokenizer = BytePairTokenizer(vocab_path, merges_path)
    end = tokenizer.token_to_id("<|endoftext|>")
    tf.keras.utils.set_random_seed(3)
    lm = GptCausalLM(GptBackbone(tokenizer.vocabulary_size, 2, 2, 32, 64,
                                 max_sequence_length=CONTEXT))
    module = TextGenerationModule(tokenizer, lm, end, end, default_max_new_tokens=6)
    path = export.export(module, root / "models")
    return tokenizer, lm, end, path, tf.saved_model.load(str(path))


def _host_greedy(tokenizer, lm, end, prompts, max_new):
    ids = [[end] + tokenizer.encode([p])[0][-(CONTEXT - 1 - max_new):] for p in prompts]
    token_ids, mask = samplers.left_pad(tf.ragged.constant(ids), pad_token_id=end)
    out = samplers.generate(lm, samplers.GreedySampler(pad_token_id=end), token_ids, mask,
                            token_ids.shape[1] + max_new, max_new_tokens=max_new,
                            end_token_id=end)
    return [tokenizer.decode([row[:n].tolist()])[0] for row, n in
            zip(out["tokens"].numpy(), out["num_tokens"].numpy())]


def test_greedy_default_equals_the_in_process_sampler(exported):
    tokenizer, lm, end, _, loaded = exported
    prompts = ["To be", "The slings and arrows of", ""]
    text = loaded.signatures["serving_default"](prompt=tf.constant(prompts))["text"]
    assert [t.decode() for t in text.numpy()] == _host_greedy(tokenizer, lm, end, prompts, 6)


def _generate(loaded, prompts, **params):
    count = len(prompts)
    defaults = {"max_new_tokens": [5] * count, "temperature": [1.0] * count,
                "top_k": [0] * count, "top_p": [1.0] * count, "seed": [7] * count}
    defaults.update(params)
    dtypes = {"max_new_tokens": tf.int32, "top_k": tf.int32, "seed": tf.int32}
    args = {k: tf.constant(v, dtypes.get(k, tf.float32)) for k, v in defaults.items()}
    out = loaded.signatures["generate"](prompt=tf.constant(prompts), **args)
    return [t.decode() for t in out["text"].numpy()], out["num_tokens"].numpy().tolist()


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch(exported):
    *_, loaded = exported
    alone = _generate(loaded, ["Whether 'tis"], seed=[11])
    assert _generate(loaded, ["Whether 'tis"], seed=[11]) == alone
    batch = _generate(loaded, ["To be, or not", "Whether 'tis", "x"], seed=[3, 11, 5],
                      max_new_tokens=[2, 5, 9], temperature=[0.0, 1.0, 1.5],
                      top_k=[0, 0, 3], top_p=[1.0, 1.0, 0.8])
    assert batch[0][1] == alone[0][0] and batch[1][1] == alone[1][0]
    assert batch[1][0] <= 2 and batch[1][2] <= 9
    assert _generate(loaded, ["Whether 'tis"], max_new_tokens=[0]) == ([""], [0])


def _direct_log_likelihood(tokenizer, lm, end, text):
    ids = np.array([[end] + tokenizer.encode([text])[0]], np.int32)
    logits = lm({"token_ids": ids, "padding_mask": np.ones_like(ids)}).numpy()[0]
    log_probs = tf.nn.log_softmax(logits[:-1]).numpy()
    return float(log_probs[np.arange(ids.shape[1] - 1), ids[0, 1:]].sum()), ids.shape[1] - 1


def test_score_equals_a_full_forward_pass_and_slides_beyond_the_context(exported):
    tokenizer, lm, end, _, loaded = exported
    short, long = "To be, or not", TEXT
    out = loaded.signatures["score"](text=tf.constant([short, "", long]))
    expected, count = _direct_log_likelihood(tokenizer, lm, end, short)
    assert out["num_tokens"].numpy().tolist()[:2] == [count, 0]
    np.testing.assert_allclose(out["log_likelihood"].numpy()[:2], [expected, 0.0], rtol=1e-4)
    # Beyond the context: windows of CONTEXT tokens moving by CONTEXT // 2, each token once.
    ids = [end] + tokenizer.encode([long])[0]
    assert len(ids) > 3 * CONTEXT
    total, stride, begin = 0.0, CONTEXT // 2, 0
    while True:
        window = np.array([ids[begin:begin + CONTEXT]], np.int32)
        logits = lm({"token_ids": window, "padding_mask": np.ones_like(window)}).numpy()[0]
        log_probs = tf.nn.log_softmax(logits[:-1]).numpy()
        first = 1 if begin == 0 else CONTEXT - stride
        total += log_probs[np.arange(first - 1, window.shape[1] - 1), window[0, first:]].sum()
        if begin + CONTEXT >= len(ids):
            break
        begin += stride
    assert out["num_tokens"].numpy()[2] == len(ids) - 1
    np.testing.assert_allclose(out["log_likelihood"].numpy()[2], total, rtol=1e-4)


@pytest.mark.parametrize("name, value, message", [
        ("max_new_tokens", -1, "max_new_tokens must be >= 0"),
        ("max_new_tokens", CONTEXT, "max_new_tokens must be <= 23"),
        ("temperature", -0.5, "temperature must be >= 0"),
        ("top_k", -2, "top_k must be >= 0"),
        ("top_p", 0.0, "top_p must be in (0, 1]"),
        ("top_p", 1.5, "top_p must be in (0, 1]")])
def test_out_of_range_parameters_are_invalid_argument_naming_the_input(exported, name, value,
                                                                      message):
    *_, loaded = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=message.replace("(", r"\(")
                       .replace("]", r"\]")):
        _generate(loaded, ["To be"], **{name: [value]})
    with pytest.raises(tf.errors.InvalidArgumentError, match="top_k must have one value"):
        _generate(loaded, ["To be", "or"], top_k=[1])


def test_keras_llm_check_passes(exported):
    *_, path, _ = exported
    report = export.check(path)
    assert report.ok, report.summary()
    assert {r.name for r in report.runs} == {"serving_default", "generate", "score"}
