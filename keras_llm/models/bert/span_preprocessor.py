"""Question/context pairs -> BERT windows with character offsets, on host and in graph.

    preprocessor = BertSpanPreprocessor("vocab.txt", sequence_length=384, doc_stride=128)
    windows = preprocessor((questions, contexts))          # in graph, core TF ops only
    windows = preprocessor.encode(questions, contexts, answers)   # host, for training

Each window is `[CLS] question [SEP] context[k*s : k*s + L] [SEP]`: the question comes first
and is cut to `max_question_tokens`; the context is never truncated but split into overlapping
windows of L = T - 3 - question tokens, started every s = min(doc_stride, L) tokens (BERT's
run_squad), until a window reaches its end. An empty context gives one window without context
tokens. Every window carries `token_starts`/`token_ends`: each context token's code-point
offsets into its context, -1 on [CLS], question, [SEP] and padding (so `token_starts >= 0` is
the context mask), and `window_example`: the index of its example in the batch.

Both paths compute the same windows, ids and offsets (tests/models/test_span_preprocessor.py).
Shapes: B examples, W windows (all examples' windows, example by example), T tokens.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from keras_llm.models.bert.backbone import INPUT_KEYS
from keras_llm.models.bert.preprocessor import NO_OFFSET, BertPreprocessorBase

OFFSET_KEYS = ("token_starts", "token_ends")


@keras.saving.register_keras_serializable(package="keras_llm")
class BertSpanPreprocessor(BertPreprocessorBase):
    """Args: vocabulary (vocab.txt path or token list); sequence_length T (incl. specials);
    doc_stride: tokens between window starts; max_question_tokens: question tokens kept."""

    def __init__(self, vocabulary, sequence_length=384, doc_stride=128, max_question_tokens=64,
                 lowercase=True, **kwargs):
        super().__init__(vocabulary, sequence_length, lowercase, **kwargs)
        if max_question_tokens < 1 or sequence_length < max_question_tokens + 4:
            raise ValueError(f"sequence_length={sequence_length} must leave room for "
                             f"max_question_tokens={max_question_tokens} (>= 1), 3 special "
                             "tokens and a context token.")
        if doc_stride < 1:
            raise ValueError(f"doc_stride must be >= 1, got {doc_stride}.")
        self.doc_stride = doc_stride
        self.max_question_tokens = max_question_tokens

    # ---- graph path ------------------------------------------------------------------------
    def call(self, inputs) -> Dict[str, tf.Tensor]:
        """(questions, contexts) tf.string (B,) -> {token_ids, segment_ids, padding_mask,
        token_starts, token_ends} int32 (W, T') with T' the longest window, and
        `window_example` int32 (W,)."""
        questions, contexts = (tf.convert_to_tensor(x, tf.string) for x in inputs)
        question_ids = self.tokenizer(questions)[:, :self.max_question_tokens]  # (B, None)
        ids, starts, ends = self.tokenizer.tokenize_with_offsets(contexts)  # (B, None) each
        room, stride, count = _window_plan(
                question_ids.row_lengths(), ids.row_lengths(), self.sequence_length,
                self.doc_stride)
        example = tf.repeat(tf.range(tf.size(count, tf.int64)), count)  # (W,)
        first = tf.gather(stride, example) * tf.ragged.range(count).flat_values  # (W,)
        length = tf.minimum(tf.gather(room, example),
                            tf.gather(ids.row_lengths(), example) - first)
        base = tf.gather(ids.row_starts(), example) + first
        index = tf.ragged.range(base, base + tf.maximum(length, 0))  # (W, None) flat indices
        question_ids = tf.gather(question_ids, example)
        windows = self.packer((question_ids, tf.gather(ids.flat_values, index)))
        no_offsets = tf.ones_like(question_ids) * NO_OFFSET
        for key, offsets in zip(OFFSET_KEYS, (starts, ends)):
            packed = self.offset_packer((no_offsets, tf.gather(offsets.flat_values, index)))
            windows[key] = packed["token_ids"]
        mask = tf.cast(windows["padding_mask"], tf.int32)
        width = tf.maximum(tf.reduce_max(tf.reduce_sum(mask, axis=1)), 1)
        windows = {k: tf.cast(v, tf.int32)[:, :width] for k, v in windows.items()}
        windows["window_example"] = tf.cast(example, tf.int32)
        return windows

    # ---- host path -------------------------------------------------------------------------
    def encode(self, questions: Sequence[str], contexts: Sequence[str],
               answers: Optional[Sequence[Optional[Tuple[int, int]]]] = None
               ) -> Dict[str, list]:
        """Host windows of N examples: each key of `call` as a list over windows (int lists
        without padding; `window_example` ints). With `answers` (per example a (start, end)
        code-point span of its context, or None), also `start_positions`/`end_positions`:
        the answer's first/last token in each window, 0 ([CLS]) when the window lacks it."""
        if len(questions) != len(contexts) or (answers is not None
                                              and len(answers) != len(contexts)):
            raise ValueError(f"encode needs as many questions ({len(questions)}), contexts "
                             f"({len(contexts)}) and answers as there are examples.")
        question_ids = [q[:self.max_question_tokens]
                        for q in self.tokenizer.encode(list(questions))]
        ids, starts, ends = self.tokenizer.encode_with_offsets(list(contexts))
        out = {k: [] for k in INPUT_KEYS + OFFSET_KEYS + ("window_example",)}
        if answers is not None:
            out["start_positions"], out["end_positions"] = [], []
        for i, question in enumerate(question_ids):
            answer = None if answers is None else answers[i]
            for window in self._example_windows(question, ids[i], starts[i], ends[i], answer):
                for key, value in window.items():
                    out[key].append(value)
                out["window_example"].append(i)
        return out

    def _example_windows(self, question, ids, starts, ends, answer) -> List[dict]:
        room, stride, count = (int(v[0]) for v in _window_plan(
                np.array([len(question)]), np.array([len(ids)]), self.sequence_length,
                self.doc_stride, xp=np))
        tokens = None if answer is None else answer_tokens(starts, ends, *answer)
        head = len(question) + 2  # [CLS] question [SEP]
        windows = []
        for k in range(count):
            lo, hi = k * stride, min(k * stride + room, len(ids))
            window = {
                    "token_ids": ([self.tokenizer.cls_token_id] + question
                                  + [self.tokenizer.sep_token_id] + ids[lo:hi]
                                  + [self.tokenizer.sep_token_id]),
                    "segment_ids": [0] * head + [1] * (hi - lo + 1),
                    "padding_mask": [1] * (head + hi - lo + 1),
                    "token_starts": [NO_OFFSET] * head + starts[lo:hi] + [NO_OFFSET],
                    "token_ends": [NO_OFFSET] * head + ends[lo:hi] + [NO_OFFSET],
            }
            if answer is not None:
                inside = tokens is not None and lo <= tokens[0] and tokens[1] < hi
                window["start_positions"] = head + tokens[0] - lo if inside else 0
                window["end_positions"] = head + tokens[1] - lo if inside else 0
            windows.append(window)
        return windows

    def get_config(self):
        config = super().get_config()
        config.update(doc_stride=self.doc_stride, max_question_tokens=self.max_question_tokens)
        return config


def _window_plan(question_lengths, context_lengths, sequence_length, doc_stride, xp=tf):
    """Per example (B,): context tokens per window L, stride s = min(doc_stride, L), and the
    number of windows 1 + ceil(max(n - L, 0) / s). `xp` is tf (graph) or np (host)."""
    room = sequence_length - 3 - question_lengths
    stride = xp.minimum(room, doc_stride)
    extra = xp.maximum(context_lengths - room, 0)
    return room, stride, 1 + (extra + stride - 1) // stride


def answer_tokens(starts: Sequence[int], ends: Sequence[int], answer_start: int,
                  answer_end: int) -> Optional[Tuple[int, int]]:
    """(first, last) context token overlapping code points [answer_start, answer_end), or None
    when no token does (an answer of spaces or punctuation the tokenizer drops)."""
    inside = [t for t, (s, e) in enumerate(zip(starts, ends))
              if s < answer_end and e > answer_start]
    return (inside[0], inside[-1]) if inside else None
