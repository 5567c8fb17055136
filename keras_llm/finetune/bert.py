"""The BERT model choice every fine-tuning app shares: a pretrained preset, or a small BERT
started from it (its vocabulary's pieces most frequent on the task's texts, PCA embeddings).

    backbone = build_backbone(config.model, workdir)    # after write_vocabulary(...)

Workdir file: vocab.txt (the preset's, or the subset), read by the app's preprocessor.
"""
import dataclasses
import logging
import pathlib
import shutil
from typing import Callable, Sequence, Tuple

from keras_llm.models.bert import shrink
from keras_llm.models.bert.backbone import BertBackbone
from keras_llm.tokenizers.wordpiece import WordPieceTokenizer, load_vocabulary
from keras_llm.utils import paths

VOCAB_FILE = "vocab.txt"
KINDS = ("preset", "small")


@dataclasses.dataclass(frozen=True)
class BertModelConfig:
    # "preset": fine-tune the preset's backbone; "small": a new BERT on the preset's pieces
    # most frequent on the training texts (keras_llm.models.bert.shrink).
    kind: str = "small"
    preset: str = ""  # keras_llm preset or Hugging Face BERT folder; "" = MiniLM-L6
    vocabulary_size: int = 8000  # small only
    init_embeddings: str = "pca"  # small only: "pca" (from the preset's) or "" (random)
    num_layers: int = 2
    num_heads: int = 4
    hidden_dim: int = 256
    intermediate_dim: int = 1024
    max_sequence_length: int = 128
    dropout: float = 0.1
    # preset only: keep these of the preset's encoder layers, e.g. (0, 2, 4) of 6 (a student
    # started from its teacher's checkpoint, one layer in two as DistilBERT); () = all.
    layers: Tuple[int, ...] = ()


def _check(config: BertModelConfig) -> None:
    if config.kind not in KINDS or config.init_embeddings not in ("pca", ""):
        raise ValueError(f"model.kind must be one of {KINDS} (got {config.kind!r}) and "
                         f"model.init_embeddings 'pca' or '' (got {config.init_embeddings!r}).")
    if config.layers and config.kind != "preset":
        raise ValueError(f"model.layers={config.layers} selects a preset's layers: it needs "
                         f"model.kind='preset' (got {config.kind!r}).")


def preset_dir(config: BertModelConfig) -> pathlib.Path:
    return pathlib.Path(config.preset or paths.minilm_dir())


def vocabulary_path(workdir) -> str:
    return str(pathlib.Path(workdir) / VOCAB_FILE)


def write_vocabulary(config: BertModelConfig, workdir,
                     texts: Callable[[], Sequence[str]]) -> None:
    """`workdir/vocab.txt`: the preset's, or (small) its subset for `texts()` (called only then)."""
    _check(config)
    tokens = load_vocabulary(str(preset_dir(config) / VOCAB_FILE))
    if config.kind == "small":
        encoded = WordPieceTokenizer(tokens).encode(list(texts()))
        tokens = shrink.subset_vocabulary(tokens, encoded, config.vocabulary_size)
    pathlib.Path(vocabulary_path(workdir)).write_text("\n".join(tokens) + "\n", "utf-8")


def build_backbone(config: BertModelConfig, workdir, for_training: bool = True) -> BertBackbone:
    """The preset's backbone, or a new small one (PCA embeddings from the preset's when
    training; a trained workdir's weights are loaded by the caller)."""
    _check(config)
    if config.kind == "preset":
        backbone = BertBackbone.from_preset(preset_dir(config), dropout=config.dropout)
        return shrink.select_layers(backbone, config.layers) if config.layers else backbone
    vocabulary = load_vocabulary(vocabulary_path(workdir))
    backbone = BertBackbone(len(vocabulary), config.num_layers, config.num_heads,
                            config.hidden_dim, config.intermediate_dim,
                            max_sequence_length=config.max_sequence_length,
                            dropout=config.dropout)
    if for_training and config.init_embeddings == "pca":
        source = preset_dir(config)
        shrink.init_embeddings_by_pca(backbone, BertBackbone.from_preset(source),
                                      load_vocabulary(str(source / VOCAB_FILE)), vocabulary)
    return backbone


def prune_vocabulary(backbone: BertBackbone, workdir, texts: Sequence[str], out_dir) -> int:
    """Drops the embedding rows of pieces `texts` never use (keras_llm.models.bert.shrink);
    `out_dir` gets the workdir's small files with the pruned vocab.txt. Returns its size."""
    tokens = load_vocabulary(vocabulary_path(workdir))
    kept = shrink.prune_vocabulary(backbone, tokens,
                                   WordPieceTokenizer(tokens).encode(list(texts)))
    for path in pathlib.Path(workdir).iterdir():
        if path.is_file() and path.stat().st_size < 2**20:  # config, vocab; not weights
            shutil.copy(path, out_dir)
    pathlib.Path(vocabulary_path(out_dir)).write_text("\n".join(kept) + "\n", "utf-8")
    logging.info("Vocabulary pruned to the training texts' pieces: %d of %d.", len(kept),
                 len(tokens))
    return len(kept)
