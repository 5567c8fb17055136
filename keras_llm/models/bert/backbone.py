"""BERT encoder backbone. Shapes: B batch, T sequence length, D hidden width, V vocabulary.

Architecture (matches Hugging Face `BertModel`): token + learned position + segment
embeddings, summed, LayerNorm, dropout; `num_layers` post-LN encoder blocks with exact
(erf) GELU; a tanh pooler on the first ([CLS]) token.

Variable map (Keras layer/variable -> Hugging Face `bert.*` tensor). Keras Dense kernels
are (in, out) = HF `weight.T`; `{i}` is the layer index.
  token_embedding.embeddings                 embeddings.word_embeddings.weight
  position_embedding.embeddings              embeddings.position_embeddings.weight
  segment_embedding.embeddings               embeddings.token_type_embeddings.weight
  embeddings_layer_norm.{gamma,beta}         embeddings.LayerNorm.{weight,bias}
  transformer_layer_{i}/self_attention/query.{kernel,bias}
                                             encoder.layer.{i}.attention.self.query.{weight.T,bias}
    .../key, .../value                       ...attention.self.key / .value (same layout)
    .../output.{kernel,bias}                 encoder.layer.{i}.attention.output.dense.{weight.T,bias}
  transformer_layer_{i}/self_attention_layer_norm.{gamma,beta}
                                             encoder.layer.{i}.attention.output.LayerNorm.{weight,bias}
  transformer_layer_{i}/feedforward_intermediate_dense.{kernel,bias}
                                             encoder.layer.{i}.intermediate.dense.{weight.T,bias}
  transformer_layer_{i}/feedforward_output_dense.{kernel,bias}
                                             encoder.layer.{i}.output.dense.{weight.T,bias}
  transformer_layer_{i}/feedforward_layer_norm.{gamma,beta}
                                             encoder.layer.{i}.output.LayerNorm.{weight,bias}
  pooler_dense.{kernel,bias}                 pooler.dense.{weight.T,bias}
Access in Python: `backbone.token_embedding`, `backbone.position_embedding`
(variable `.position_embeddings`), `backbone.segment_embedding`,
`backbone.embeddings_layer_norm`, `backbone.transformer_layers[i]` (`.self_attention.query_dense`,
`.key_dense`, `.value_dense`, `.output_dense`, `.self_attention_layer_norm`,
`.feedforward_intermediate_dense`, `.feedforward_output_dense`, `.feedforward_layer_norm`),
`backbone.pooler_dense`.
"""
import keras

from keras_llm import layers as llm_layers
from keras_llm.models.backbone_base import Backbone
from keras_llm.models.validation import check_heads

INPUT_KEYS = ("token_ids", "segment_ids", "padding_mask")


def _bert_init():
    return keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="keras_llm")
class BertBackbone(Backbone):
    """BERT encoder. Inputs {"token_ids", "segment_ids", "padding_mask"} int (B, T);
    outputs {"sequence_output": (B, T, D), "pooled_output": (B, D)}."""

    _config_keys = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim",
                    "intermediate_dim", "max_sequence_length", "num_segments", "dropout",
                    "layer_norm_epsilon")

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 max_sequence_length=512, num_segments=2, dropout=0.1,
                 layer_norm_epsilon=1e-12, **kwargs):
        check_heads(hidden_dim, num_heads)
        token_embedding = llm_layers.TokenEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=_bert_init(),
            name="token_embedding")
        position_embedding = llm_layers.PositionEmbedding(
            max_sequence_length, initializer=_bert_init(),
            name="position_embedding")
        segment_embedding = llm_layers.TokenEmbedding(
            num_segments, hidden_dim, embeddings_initializer=_bert_init(),
            name="segment_embedding")
        embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="embeddings_layer_norm")
        blocks = [llm_layers.TransformerEncoderBlock(
            num_heads, intermediate_dim, dropout=dropout, activation="gelu",
            layer_norm_epsilon=layer_norm_epsilon, normalize_first=False,
            kernel_initializer=_bert_init(), name=f"transformer_layer_{i}")
            for i in range(num_layers)]
        pooler_dense = keras.layers.Dense(hidden_dim, activation="tanh",
                                          kernel_initializer=_bert_init(),
                                          name="pooler_dense")

        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key)
                  for key in INPUT_KEYS}
        tokens = token_embedding(inputs["token_ids"])  # (B, T, D)
        x = tokens + position_embedding(tokens) + segment_embedding(inputs["segment_ids"])
        x = embeddings_layer_norm(x)
        x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
        # One additive padding bias (B, 1, 1, T) shared by all blocks.
        bias = llm_layers.masks.AttentionBias(name="attention_bias")(inputs["padding_mask"])
        for block in blocks:
            x = block(x, attention_bias=bias)
        pooled = pooler_dense(x[:, 0, :])  # (B, D) from the [CLS] position
        super().__init__(inputs=inputs,
                         outputs={"sequence_output": x, "pooled_output": pooled},
                         **kwargs)

        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.token_embedding = token_embedding
        self.position_embedding = position_embedding
        self.segment_embedding = segment_embedding
        self.embeddings_layer_norm = embeddings_layer_norm
        self.transformer_layers = blocks
        self.pooler_dense = pooler_dense

    @classmethod
    def from_preset(cls, preset_dir, **overrides):
        """A keras_llm preset (`save_to_preset`) or a Hugging Face BERT folder."""
        from keras_llm.models import preset  # pylint: disable=import-outside-toplevel
        if preset.is_preset(preset_dir):
            return super().from_preset(preset_dir, **overrides)
        return cls.from_huggingface(preset_dir, **overrides)

    @classmethod
    def from_huggingface(cls, path, **kwargs):
        """Builds a BertBackbone from a Hugging Face checkpoint directory (no downloads)."""
        from keras_llm.models.bert.huggingface import load_bert_from_huggingface
        return load_bert_from_huggingface(path, **kwargs)
