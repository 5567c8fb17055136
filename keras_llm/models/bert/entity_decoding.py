"""Entity decoding: per-word IOB2 classes -> typed entities with code-point offsets, in graph.

`decode_entities` (core TF ops) applies the conlleval rules of `keras_llm.evaluation.entity_f1`
(an entity starts at B-X, or at I-X after O or another type; it continues over I-X) to a batch
of word classes, and cuts each entity from its text by its first word's start and last word's
end, so `text[start:end] == entity_text` in code points. `entities_host` is its Python mirror
on top of `entity_f1.iob2_entities`; tests check both give the same entities.
Shapes: B texts, W words, E entities of the batch, E' the most entities of one text.
"""
from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf

from keras_llm.evaluation import entity_f1

NO_POSITION = -1


def label_tables(labels: Sequence[str]):
    """(entity types, type index of each label (-1 for O), 1 where the label is B-X)."""
    parts = [entity_f1.split_tag(label) for label in labels]
    types = sorted({kind for prefix, kind in parts if prefix != "O"})
    type_of = np.array([types.index(k) if p != "O" else -1 for p, k in parts], np.int32)
    begins = np.array([p == "B" for p, _ in parts], bool)
    return types, type_of, begins


def decode_entities(classes, labels: Sequence[str], word_starts, word_ends,
                    texts) -> Dict[str, tf.Tensor]:
    """classes int32 (B, W) label indices (-1: no prediction, read as O); word_starts/ends
    int32 (B, W) code-point offsets into `texts` tf.string (B,) -> {"entity_text",
    "entity_type"} tf.string (B, E') ("" padding), {"entity_start", "entity_end"} int32
    (B, E') (-1 padding), entities in text order."""
    types, type_of, begins = label_tables(labels)
    classes = tf.cast(classes, tf.int32)
    row = tf.where(classes >= 0, classes, len(labels))  # -1 -> an extra "O" row
    kind = tf.gather(np.append(type_of, -1).astype(np.int32), row)  # (B, W) type, -1 for O
    begin = tf.gather(np.append(begins, False), row)
    previous = tf.concat([tf.fill([tf.shape(kind)[0], 1], -1), kind], axis=1)[:, :-1]
    inside = kind >= 0
    start = inside & (begin | (previous != kind))  # (B, W)
    # Entity index of every word inside one, row-major (entities never cross rows: a row's
    # first word with a type always starts one).
    entity = tf.reshape(tf.cumsum(tf.reshape(tf.cast(start, tf.int64), [-1])) - 1,
                        tf.shape(start, out_type=tf.int64))
    first = tf.where(start)  # (E, 2): row, word
    last_word = tf.math.unsorted_segment_max(
            tf.where(inside)[:, 1], tf.boolean_mask(entity, inside), tf.shape(first)[0])
    last = tf.stack([first[:, 0], last_word], axis=1)
    begin_at = tf.gather_nd(tf.cast(word_starts, tf.int32), first)
    end_at = tf.gather_nd(tf.cast(word_ends, tf.int32), last)
    text = tf.strings.substr(tf.gather(texts, first[:, 0]), begin_at, end_at - begin_at,
                             unit="UTF8_CHAR")
    type_names = tf.gather(tf.constant(types + [""]), tf.gather_nd(kind, first))
    nrows = tf.shape(classes, out_type=tf.int64)[0]

    def dense(values, pad):
        ragged = tf.RaggedTensor.from_value_rowids(values, first[:, 0], nrows=nrows,
                                                   validate=False)
        return ragged.to_tensor(pad)
    return {"entity_text": dense(text, ""), "entity_type": dense(type_names, ""),
            "entity_start": dense(begin_at, NO_POSITION), "entity_end": dense(end_at, NO_POSITION)}


def classes_to_tags(classes: Sequence[int], labels: Sequence[str]) -> List[str]:
    """Host: label indices of one example's words -> tags ("O" for -1: no prediction)."""
    return [labels[c] if c >= 0 else "O" for c in classes]


def entities_host(tags: Sequence[str], word_starts: Sequence[int], word_ends: Sequence[int],
                  text: str) -> List[dict]:
    """Host: one text's word tags -> [{"text", "type", "start", "end"}] as `decode_entities`."""
    out = []
    for kind, first, last in entity_f1.iob2_entities(tags):
        start, end = word_starts[first], word_ends[last]
        out.append({"text": text[start:end], "type": kind, "start": start, "end": end})
    return out
