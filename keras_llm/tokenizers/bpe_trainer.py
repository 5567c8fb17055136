"""Byte-level BPE vocabulary trainer (pure Python) and vocab.json / merges.txt writer.

Words come from the same GPT-2 pre-tokenizer as `BytePairTokenizer`, so a trained vocabulary
tokenizes its training text the way it was counted. Training keeps pair counts incrementally
(pair -> count, pair -> words holding it) and a lazy max-heap, so each merge only touches the words
that contain the merged pair. Ties go to the pair of older tokens, as in HF's BpeTrainer: on the
same text, vocabulary size and min_frequency both learn the same merges in the same order.
"""
import collections
import heapq
import json
import os

from absl import logging

from keras_llm.tokenizers import byte_pair


def _word_counts(texts):
    table = byte_pair.bytes_to_unicode()
    counts = collections.Counter()
    for text in texts:
        counts.update(m.group() for m in byte_pair._HOST_REGEX.finditer(text))  # pylint: disable=protected-access
    return [(tuple(table[b] for b in w.encode("utf-8")), c) for w, c in counts.items()]


def _pairs(symbols):
    return collections.Counter(zip(symbols[:-1], symbols[1:]))


def _merge_word(symbols, pair, new):
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


class _PairStats:
    """Pair counts over (symbols, frequency) words, with the words holding each pair."""

    def __init__(self, words, alphabet):
        self.words = [list(w) for w in words]
        # Ties between equal counts go to the pair of older tokens (alphabet by code point, then
        # merges in creation order): HF BpeTrainer's rule, so both trainers learn the same merges.
        self.order = {c: i for i, c in enumerate(sorted(alphabet))}
        self.counts = collections.Counter()
        self.where = collections.defaultdict(set)
        for i, (symbols, freq) in enumerate(words):
            for pair, n in _pairs(symbols).items():
                self.counts[pair] += n * freq
                self.where[pair].add(i)
        self.heap = [self._entry(p) for p in self.counts]
        heapq.heapify(self.heap)

    def _entry(self, pair):
        return -self.counts[pair], self.order[pair[0]], self.order[pair[1]], pair

    def pop_best(self, min_frequency):
        while self.heap:
            neg_count, _, _, pair = heapq.heappop(self.heap)
            if self.counts.get(pair, 0) == -neg_count:
                return pair if -neg_count >= min_frequency else None
        return None

    def merge(self, pair):
        new = pair[0] + pair[1]
        self.order.setdefault(new, len(self.order))
        changed = set()
        for i in self.where.pop(pair, ()):
            symbols, freq = self.words[i]
            merged = _merge_word(symbols, pair, new)
            for p, n in _pairs(symbols).items():
                self.counts[p] -= n * freq
                changed.add(p)
            for p, n in _pairs(merged).items():
                self.counts[p] += n * freq
                self.where[p].add(i)
                changed.add(p)
            self.words[i][0] = merged
        for p in changed:
            if self.counts[p] > 0:
                heapq.heappush(self.heap, self._entry(p))
            else:
                del self.counts[p]
        return new


def train_bpe(texts, vocabulary_size, special_tokens=("<|endoftext|>",), min_frequency=2):
    """Learns GPT-2 style byte-level BPE merges from an iterable of str.

    Returns (vocab dict token -> id, merges list of "a b"): the 256 byte-level characters (in byte
    order), then each new merged token, then `special_tokens` at the end (like GPT-2's
    `<|endoftext|>` = 50256). Stops at `vocabulary_size` tokens or when no pair occurs
    `min_frequency` times.
    """
    if vocabulary_size < 256 + len(special_tokens):
        raise ValueError(f"vocabulary_size={vocabulary_size} is below the 256 byte characters "
                         f"+ {len(special_tokens)} special tokens")
    vocab = {c: i for i, c in enumerate(byte_pair.bytes_to_unicode().values())}
    stats = _PairStats(_word_counts(texts), alphabet=list(vocab))
    merges = []
    target = vocabulary_size - len(special_tokens)
    while len(vocab) < target:
        pair = stats.pop_best(min_frequency)
        if pair is None:
            logging.info("train_bpe: no pair occurs %d times; stopping at %d tokens",
                         min_frequency, len(vocab))
            break
        new = stats.merge(pair)
        merges.append(f"{pair[0]} {pair[1]}")
        vocab.setdefault(new, len(vocab))
    for token in special_tokens:
        if token in vocab:
            raise ValueError(f"special token {token!r} was also learned as a merge")
        vocab[token] = len(vocab)
    return vocab, merges


def save_bpe(vocab, merges, directory):
    """Writes `directory`/vocab.json and merges.txt (HF / GPT-2 layout); returns both paths."""
    os.makedirs(directory, exist_ok=True)
    vocab_path = os.path.join(directory, "vocab.json")
    merges_path = os.path.join(directory, "merges.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(merges_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n" + "".join(m + "\n" for m in merges))
    return vocab_path, merges_path
