"""SST-2 reading: `sentence<TAB>label` TSV files with a header."""
import pathlib
from typing import List, Tuple

import numpy as np

from keras_llm.utils import paths


def split_path(data_dir: str, split: str) -> pathlib.Path:
    root = pathlib.Path(data_dir) if data_dir else paths.shared_data_dir() / "sst2"
    return root / f"{split}.tsv"


def read_tsv(path) -> Tuple[List[str], np.ndarray]:
    """-> (texts, labels int32 (N,))."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SST-2 file {path} does not exist (set data_dir, e.g. "
                                "--override=data_dir=FOLDER).")
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:2] != ["sentence", "label"]:
            raise ValueError(f"{path}: expected header 'sentence<TAB>label', got {header}.")
        for line_number, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2 or fields[1] not in ("0", "1"):
                raise ValueError(f"{path}:{line_number}: bad row {line!r}.")
            texts.append(fields[0].strip())
            labels.append(int(fields[1]))
    return texts, np.asarray(labels, np.int32)
