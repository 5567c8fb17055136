"""Start a small BERT from a large one: a task-specific vocabulary subset and PCA embeddings.

    tokens = subset_vocabulary(big_vocab, big_tokenizer.encode(train_texts), size=8000)
    small = BertBackbone(vocabulary_size=len(tokens), hidden_dim=256, ...)
    init_embeddings_by_pca(small, big_backbone, big_vocab, tokens)

The subset keeps the big vocabulary's order, so ids map back to the big model's rows.

Export-time pruning keeps a trained model but drops the pieces its task's training texts
never use (`prune_vocabulary`): those texts tokenize exactly as before (greedy longest match
finds the same pieces), other text may split into shorter kept pieces.
"""
from typing import List, Sequence

import numpy as np


def subset_vocabulary(vocabulary: Sequence[str], encoded: Sequence[Sequence[int]],
                      size: int) -> List[str]:
    """Specials (`[...]`, not `[unused*]`) and Latin single-character pieces of `vocabulary`,
    then its pieces most frequent in `encoded` (ids of a corpus), up to `size`, in order."""
    counts = np.bincount(np.concatenate([np.asarray(ids, np.int64) for ids in encoded]
                                        + [np.zeros([0], np.int64)]),
                         minlength=len(vocabulary))
    keep = {i for i, t in enumerate(vocabulary) if t.startswith("[") and t.endswith("]")
            and not t.startswith("[unused")}
    keep |= {i for i, t in enumerate(vocabulary)
             if len(t.removeprefix("##")) == 1 and ord(t[-1]) < 0x250}  # Latin chars, ASCII
    if len(keep) >= size:
        raise ValueError(f"vocabulary size {size} is too small for the {len(keep)} special and "
                         "single-character tokens.")
    for i in np.argsort(-counts, kind="stable"):
        if len(keep) >= size or counts[i] == 0:
            break
        keep.add(int(i))
    return [vocabulary[i] for i in sorted(keep)]


def init_embeddings_by_pca(target, source, source_vocabulary: Sequence[str],
                           target_vocabulary: Sequence[str]) -> None:
    """`target`'s token/position/segment embeddings from `source`'s, projected on the top
    `target.hidden_dim` principal components of `source`'s rows for `target_vocabulary`."""
    index = {t: i for i, t in enumerate(source_vocabulary)}
    missing = [t for t in target_vocabulary if t not in index]
    if missing:
        raise ValueError(f"PCA embedding init needs tokens of the source vocabulary; missing: "
                         f"{missing[:10]}")
    tokens = source.token_embedding.embeddings.numpy()[[index[t] for t in target_vocabulary]]
    mean = tokens.mean(axis=0)
    _, _, components = np.linalg.svd(tokens - mean, full_matrices=False)
    projection = components[:target.hidden_dim].T  # (D_source, D_target)
    positions = source.position_embedding.position_embeddings.numpy()
    segments = source.segment_embedding.embeddings.numpy()
    target.token_embedding.embeddings.assign((tokens - mean) @ projection)
    target.position_embedding.position_embeddings.assign(
            positions[:target.max_sequence_length] @ projection)
    target.segment_embedding.embeddings.assign(segments[:target.num_segments] @ projection)


def prune_vocabulary(backbone, vocabulary: Sequence[str],
                     encoded: Sequence[Sequence[int]]) -> List[str]:
    """Keeps the rows of `backbone.token_embedding` for specials, Latin single characters and
    every piece used in `encoded` (ids of the training texts); returns the new vocabulary."""
    kept = subset_vocabulary(vocabulary, encoded, len(vocabulary) + 1)
    index = {t: i for i, t in enumerate(vocabulary)}
    backbone.token_embedding.keep_rows([index[t] for t in kept])
    backbone.vocabulary_size = len(kept)
    return kept


def select_layers(backbone, layers: Sequence[int]):
    """A copy of `backbone` keeping only its encoder blocks `layers` (in that order), with its
    embeddings and pooler: a student that starts from its teacher, as DistilBERT takes one
    layer in two (Sanh et al., 2019). Same vocabulary, so the student reads the teacher's ids."""
    from keras_llm.models.bert.backbone import BertBackbone  # pylint: disable=import-outside-toplevel
    layers = [int(i) for i in layers]
    bad = [i for i in layers if not 0 <= i < backbone.num_layers]
    if not layers or bad or len(set(layers)) != len(layers):
        raise ValueError(f"layers must be distinct indices in [0, {backbone.num_layers}) of the "
                         f"{backbone.num_layers}-layer backbone, got {layers}.")
    config = backbone.get_config()
    config.update(num_layers=len(layers))
    config.pop("name", None)
    student = BertBackbone.from_config(config)
    pairs = [(student.token_embedding, backbone.token_embedding),
             (student.position_embedding, backbone.position_embedding),
             (student.segment_embedding, backbone.segment_embedding),
             (student.embeddings_layer_norm, backbone.embeddings_layer_norm),
             (student.pooler_dense, backbone.pooler_dense)]
    pairs += [(student.transformer_layers[j], backbone.transformer_layers[i])
              for j, i in enumerate(layers)]
    for target, source in pairs:
        target.set_weights(source.get_weights())
    return student
