"""keras_llm.export: SavedModels that stock TF Serving loads (core TensorFlow ops only).

- `TextTaskModule`: base of task modules (raw text -> preprocess -> model -> postprocess);
  `TextClassifierModule` (sentiment): `serving_default`, `classify`, `predict_token_ids`;
  `SpanQuestionAnsweringModule` (extractive QA): `serving_default`, `predict_token_ids`;
  `EntityRecognitionModule` (NER): `serving_default`, `tag_words`, `predict_token_ids`;
  `TextGenerationModule` (GPT): `serving_default`, `generate`, `score`.
- `export(module, base_dir, version=None)`: atomic `<base_dir>/<N>/` with warmup requests.
- `check(path)` (CLI `keras-llm-check PATH`): ops, TF Serving releases, runs every signature.
"""
from keras_llm.export.check import CheckReport, check
from keras_llm.export.classifier import TextClassifierModule
from keras_llm.export.entities import EntityRecognitionModule
from keras_llm.export.generation import TextGenerationModule
from keras_llm.export.module import TextTaskModule, export, save
from keras_llm.export.span import SpanQuestionAnsweringModule
from keras_llm.export.versions import latest_version_dir, list_versions, next_version, write_version
from keras_llm.export.warmup import read_warmup_requests, write_warmup_requests

__all__ = ["CheckReport", "EntityRecognitionModule", "SpanQuestionAnsweringModule",
           "TextClassifierModule", "TextGenerationModule", "TextTaskModule", "check", "export",
           "latest_version_dir", "list_versions", "next_version", "read_warmup_requests",
           "save", "write_version", "write_warmup_requests"]
