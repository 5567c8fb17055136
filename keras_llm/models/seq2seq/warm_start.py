"""Warm-start an encoder-decoder from a BERT checkpoint (BERT2BERT, Rothe et al., 2020).

    backbone = Seq2SeqBackbone.from_bert(paths.minilm_dir())      # or a BertBackbone

The result is a post-LN `Seq2SeqBackbone` (`normalize_first=False`) whose
- token embedding is BERT's (shared by encoder, decoder and the tied output projection);
- encoder and decoder position embeddings are BERT's position embeddings plus its segment-0
  embedding (every token of a single-segment input adds it, so folding it in is exact);
- encoder and decoder embedding LayerNorms are BERT's;
- encoder block i is BERT layer i, every tensor (attention, its LayerNorm, feed-forward,
  its LayerNorm), so the encoder computes exactly `BertBackbone`'s sequence output;
- decoder block i is BERT layer i as well (its self-attention now causal), plus a new
  cross-attention with its LayerNorm (random, identity-initialized LayerNorm); with more
  decoder layers than BERT has, the extra ones start random.
BERT's pooler is not used.
"""
import numpy as np

_SHARED_SUBLAYERS = ("self_attention", "self_attention_layer_norm",
                     "feedforward_intermediate_dense", "feedforward_output_dense",
                     "feedforward_layer_norm")


def _as_bert(bert):
    from keras_llm.models.bert.backbone import BertBackbone  # pylint: disable=import-outside-toplevel
    if isinstance(bert, BertBackbone):
        return bert
    return BertBackbone.from_preset(bert)


def from_bert(cls, bert, num_decoder_layers=None, **overrides):
    """See the module docstring. `overrides` change constructor arguments other than the
    shapes BERT fixes (e.g. dropout)."""
    bert = _as_bert(bert)
    fixed = dict(vocabulary_size=bert.vocabulary_size, num_encoder_layers=bert.num_layers,
                 num_heads=bert.num_heads, hidden_dim=bert.hidden_dim,
                 intermediate_dim=bert.intermediate_dim,
                 max_sequence_length=bert.max_sequence_length)
    clash = sorted(set(overrides) & (set(fixed) | {"normalize_first"}))
    if clash:
        raise ValueError(f"{clash} are fixed by the BERT checkpoint; only other arguments "
                         "(e.g. dropout) can be overridden.")
    args = dict(fixed, num_decoder_layers=num_decoder_layers or bert.num_layers,
                dropout=bert.dropout, layer_norm_epsilon=bert.layer_norm_epsilon,
                normalize_first=False)
    args.update(overrides)
    backbone = cls(**args)
    backbone.token_embedding.set_weights(bert.token_embedding.get_weights())
    positions = np.asarray(bert.position_embedding.get_weights()[0])
    segment_zero = np.asarray(bert.segment_embedding.get_weights()[0])[0]
    for side in ("encoder", "decoder"):
        getattr(backbone, f"{side}_position_embedding").set_weights([positions + segment_zero])
        getattr(backbone, f"{side}_embeddings_layer_norm").set_weights(
                bert.embeddings_layer_norm.get_weights())
    for i, source in enumerate(bert.transformer_layers):
        targets = [backbone.encoder_layers[i]]
        if i < len(backbone.decoder_layers):
            targets.append(backbone.decoder_layers[i])
        for target in targets:
            for name in _SHARED_SUBLAYERS:
                getattr(target, name).set_weights(getattr(source, name).get_weights())
    return backbone
