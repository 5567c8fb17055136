"""Backbone presets: a folder that rebuilds a backbone (and its tokenizer files) in one call.

    backbone.save_to_preset("/tmp/my_bert", tokenizer_files=["/tmp/run/vocab/vocab.txt"])
    backbone = BertBackbone.from_preset("/tmp/my_bert")          # or a Hugging Face folder

A preset folder holds `preset.json` ({"class_name", "config"}: the backbone's constructor
arguments), `model.weights.h5` and the tokenizer's files (e.g. `vocab.txt`, or `vocab.json` +
`merges.txt`). `python -m keras_llm.train --export_preset=DIR` and `scripts/pretrain_lm.py
--export_dir=DIR` write one; `BertBackbone.from_preset` also reads Hugging Face BERT folders.
"""
import json
import pathlib
import shutil
from typing import Iterable, Mapping, Union

PRESET_FILE = "preset.json"
WEIGHTS_FILE = "model.weights.h5"


def save_to_preset(backbone, preset_dir,
                   tokenizer_files: Union[Iterable, Mapping] = ()) -> pathlib.Path:
    """Writes `backbone` (config + weights) and copies `tokenizer_files` into `preset_dir`:
    paths (kept under their own names) or a {name in the preset: path} mapping."""
    preset_dir = pathlib.Path(preset_dir)
    preset_dir.mkdir(parents=True, exist_ok=True)
    if not isinstance(tokenizer_files, dict):
        tokenizer_files = {pathlib.Path(f).name: f for f in tokenizer_files}
    for name, source in tokenizer_files.items():
        source = pathlib.Path(source)
        if not source.is_file():
            raise ValueError(f"Tokenizer file {source} does not exist.")
        shutil.copy(source, preset_dir / name)
    backbone.save_weights(preset_dir / WEIGHTS_FILE)
    record = {"class_name": type(backbone).__name__, "config": backbone.get_config()}
    (preset_dir / PRESET_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return preset_dir


def is_preset(preset_dir) -> bool:
    return (pathlib.Path(preset_dir) / PRESET_FILE).is_file()


def load_from_preset(cls, preset_dir, **overrides):
    """A `cls` built from `preset_dir`'s config (with `overrides`, e.g. dropout) and weights."""
    preset_dir = pathlib.Path(preset_dir)
    if not is_preset(preset_dir):
        raise ValueError(f"{preset_dir} is not a keras_llm preset (no {PRESET_FILE}).")
    record = json.loads((preset_dir / PRESET_FILE).read_text(encoding="utf-8"))
    if record["class_name"] != cls.__name__:
        raise ValueError(f"Preset {preset_dir} holds a {record['class_name']}, not a "
                         f"{cls.__name__}.")
    backbone = cls.from_config({**record["config"], **overrides})
    backbone.load_weights(preset_dir / WEIGHTS_FILE)
    return backbone
