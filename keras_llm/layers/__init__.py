"""Reusable Transformer layers: attention, encoder/decoder blocks, embeddings, masks."""
from keras_llm.layers import kv_cache, masks
from keras_llm.layers.attention import MultiHeadAttention
from keras_llm.layers.bias import BiasAdd
from keras_llm.layers.embeddings import (PositionEmbedding, PositionIds,
                                         SinusoidalPositionEmbedding, TokenEmbedding)
from keras_llm.layers.transformer import TransformerDecoderBlock, TransformerEncoderBlock

__all__ = [
    "BiasAdd", "MultiHeadAttention", "PositionEmbedding", "PositionIds",
    "SinusoidalPositionEmbedding", "TokenEmbedding", "TransformerDecoderBlock",
    "TransformerEncoderBlock", "kv_cache", "masks",
]
