"""Post-training int8 quantization (keras_llm.models.quantization) and export-time vocabulary
pruning (keras_llm.models.bert.shrink.prune_vocabulary) on small random models."""
import numpy as np
import pytest
import tensorflow as tf

from keras_llm.models import quantization
from keras_llm.models.bert import shrink
from keras_llm.models.bert.backbone import BertBackbone
from keras_llm.models.bert.classifier import BertClassifier
from keras_llm.models.gpt.backbone import GptBackbone
from keras_llm.models.gpt.causal_lm import GptCausalLM
from keras_llm.tokenizers.wordpiece import WordPieceTokenizer

RNG = np.random.default_rng(0)


def _bert_inputs(vocabulary_size, batch=4, length=16):
    return {"token_ids": RNG.integers(0, vocabulary_size, (batch, length)).astype("int32"),
            "segment_ids": np.zeros((batch, length), "int32"),
            "padding_mask": np.ones((batch, length), "int32")}


def _classifier():
    return BertClassifier(BertBackbone(500, 2, 4, 64, 128, max_sequence_length=32), 3)


@pytest.mark.parametrize("mode, tolerance", [("int8", 0.02), ("int8_dynamic", 0.05)])
def test_quantized_classifier_stays_close_to_float(mode, tolerance):
    model = _classifier()
    inputs = _bert_inputs(500)
    reference = model.backbone(inputs)["sequence_output"].numpy()  # (B, T, D), layer-normed
    logits = model(inputs).numpy()
    assert quantization.quantize(model, mode) == 2 + 2 * 6 + 1 + 1  # embeddings, blocks, pooler, head
    quantized = tf.function(lambda x: model.backbone(x, training=False))(inputs)
    # Error relative to the hidden states' scale: weight rounding only, or also activations.
    error = np.abs(quantized["sequence_output"].numpy() - reference).max()
    assert error <= tolerance * np.abs(reference).max()
    assert np.abs(model(inputs).numpy() - logits).max() <= 0.05 * np.abs(logits).max()
    counts = quantization.weight_dtypes(model.weights)
    assert counts["int8"] > 10 * counts["float32"]
    assert quantization.describe_dtypes(counts).startswith("int8 ")


def test_tied_lm_head_quantizes_with_the_embedding():
    backbone = GptBackbone(300, 2, 4, 64, 128, max_sequence_length=32)
    model = GptCausalLM(backbone)
    ids = {"token_ids": RNG.integers(0, 300, (2, 12)).astype("int32"),
           "padding_mask": np.ones((2, 12), "int32")}
    reference = model(ids).numpy()
    quantization.quantize(model)
    assert backbone.token_embedding.quantization_mode == "int8"
    out = model(ids).numpy()
    assert out.shape == reference.shape == (2, 12, 300)
    assert np.abs(out - reference).max() <= 0.02 * np.abs(reference).max()
    assert (out.argmax(-1) == reference.argmax(-1)).mean() >= 0.9


def test_bad_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="'int4'"):
        quantization.quantize(_classifier(), "int4")


def test_pruned_vocabulary_keeps_training_text_tokens_and_outputs(tmp_path):
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrst") \
        + ["##" + c for c in "abcdefghijklmnopqrst"] + ["cat", "dog", "bird", "##ing",
                                                         "tree", "house"]
    texts = ["cats dog", "dogs bird tree"]
    tokenizer = WordPieceTokenizer(vocabulary)
    encoded = tokenizer.encode(texts)
    model = BertClassifier(BertBackbone(len(vocabulary), 1, 2, 16, 32,
                                        max_sequence_length=8), 2)
    padded = np.zeros((2, 8), "int32")
    for i, ids in enumerate(encoded):
        padded[i, :len(ids)] = ids
    mask = (np.arange(8)[None] < np.array([len(e) for e in encoded])[:, None]).astype("int32")
    inputs = {"token_ids": padded, "segment_ids": np.zeros_like(padded), "padding_mask": mask}
    reference = model(inputs).numpy()
    kept = shrink.prune_vocabulary(model.backbone, vocabulary, encoded)
    assert "house" not in kept and "##ing" not in kept and "cat" in kept and "[MASK]" in kept
    assert model.backbone.token_embedding.embeddings.shape == (len(kept), 16)
    pruned = WordPieceTokenizer(kept).encode(texts)
    # Same pieces, new ids; the model's outputs on the training texts are unchanged.
    assert [[kept[i] for i in ids] for ids in pruned] == \
        [[vocabulary[i] for i in ids] for ids in encoded]
    for i, ids in enumerate(pruned):
        padded[i, :len(ids)] = ids
    np.testing.assert_allclose(model(inputs).numpy(), reference, rtol=1e-5, atol=1e-6)
    # A word the texts never used still tokenizes, into kept single characters.
    assert [kept[i] for i in WordPieceTokenizer(kept).encode(["hoses"])[0]] == \
        ["h", "##o", "##s", "##e", "##s"]


def test_int4_token_embeddings_lookup_and_tied_head():
    backbone = GptBackbone(300, 2, 4, 64, 128, max_sequence_length=32)
    model = GptCausalLM(backbone)
    ids = {"token_ids": RNG.integers(0, 300, (2, 12)).astype("int32"),
           "padding_mask": np.ones((2, 12), "int32")}
    table = backbone.token_embedding.embeddings.numpy()
    reference = model(ids).numpy()
    quantization.quantize(model, "int8_int4_embeddings")
    layer = backbone.token_embedding
    assert layer._embeddings.shape == (300, 32) and layer._embeddings.dtype == "int8"  # packed
    rows = layer(ids["token_ids"]).numpy()
    # 4 bits per value, one scale per row: |error| <= half a step of the row's max / 7.
    step = np.abs(table).max(axis=1) / 7.0
    error = np.abs(rows - table[ids["token_ids"]])
    assert (error <= step[ids["token_ids"]][..., None] * 0.5 + 1e-6).all()
    out = model(ids).numpy()
    assert np.abs(out - reference).max() <= 0.15 * np.abs(reference).max()
