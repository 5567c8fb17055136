"""CoNLL-2003 reading: one `word ... TAG` line per word (the tag is the last column), a blank
line between sentences, `-DOCSTART-` lines between documents (dropped)."""
import pathlib
from typing import List, NamedTuple

from keras_llm.utils import paths

SPLITS = {"train": "train.txt", "valid": "valid.txt", "dev": "valid.txt"}


class Sentence(NamedTuple):
    words: List[str]
    tags: List[str]


def split_path(data_dir: str, split: str) -> pathlib.Path:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}.")
    root = pathlib.Path(data_dir) if data_dir else paths.shared_data_dir() / "conll2003"
    return root / SPLITS[split]


def read_conll(path, labels) -> List[Sentence]:
    """The sentences of a CoNLL file; a tag outside `labels` raises naming its line."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL file {path} does not exist (set data_dir, e.g. "
                                "--override=data_dir=FOLDER).")
    sentences, words, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    sentences.append(Sentence(words, tags))
                words, tags = [], []
                continue
            if len(fields) < 2 or fields[-1] not in labels:
                raise ValueError(f"{path}:{line_number}: expected 'word ... TAG' with a tag "
                                 f"in {list(labels)}, got {line.rstrip()!r}.")
            words.append(fields[0])
            tags.append(fields[-1])
    if words:
        sentences.append(Sentence(words, tags))
    return sentences
