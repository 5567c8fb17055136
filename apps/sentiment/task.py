"""SST-2 sentiment on the fine-tuning library: a BertClassifier over [CLS] text [SEP].

Workdir files besides the library's (keras_llm/finetune/loop.py): vocab.txt.
"""
import keras
import numpy as np

from apps.sentiment import config as config_lib
from apps.sentiment import data
from keras_llm import export, models
from keras_llm.finetune import Distiller, FinetuneTask, LengthBuckets, bert, inference
from keras_llm.models.bert.preprocessor import BertTextPreprocessor


class SentimentTask(FinetuneTask):
    CONFIG_CLASS = config_lib.SentimentConfig

    # ---- files, model, data ----------------------------------------------------------------
    def prepare(self, workdir):
        bert.write_vocabulary(self.config.model, workdir, self.vocabulary_texts)

    def vocabulary_texts(self):
        return self._split("train")[0]

    def _preprocessor(self, workdir, length=None) -> BertTextPreprocessor:
        return BertTextPreprocessor(bert.vocabulary_path(workdir),
                                    length or self.config.sequence_length)

    def build_model(self, workdir, for_training=True):
        return models.BertClassifier(bert.build_backbone(self.config.model, workdir, for_training),
                                     len(config_lib.LABELS), dropout=self.config.model.dropout)

    def _split(self, split):
        texts, labels = data.read_tsv(data.split_path(self.config.data_dir, split))
        if split == "train" and self.config.max_examples:
            return texts[:self.config.max_examples], labels[:self.config.max_examples]
        return texts, labels

    def _buckets(self, workdir, texts, targets, shuffle=False, batch_size=64):
        preprocessor = self._preprocessor(workdir)
        return LengthBuckets(preprocessor.encode(texts), targets, batch_size,
                             self.config.sequence_length, self.finetune_config.bucket_boundaries,
                             pad_values={"token_ids": preprocessor.pad_token_id},
                             shuffle=shuffle, seed=self.finetune_config.seed)

    def train_batches(self, workdir):
        texts, labels = self._split("train")
        targets = labels
        if self.config.teacher_logits:
            teacher = np.load(self.config.teacher_logits).astype(np.float32)[:len(labels)]
            if teacher.shape != (len(labels), len(config_lib.LABELS)):
                raise ValueError(f"teacher_logits {self.config.teacher_logits} has shape "
                                 f"{teacher.shape}, expected ({len(labels)}, 2).")
            targets = (labels, teacher)
        return self._buckets(workdir, texts, targets, shuffle=True,
                             batch_size=self.finetune_config.batch_size)

    # ---- training ----------------------------------------------------------------------------
    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def distiller(self, model, workdir):
        del workdir
        if not self.config.teacher_logits:
            return None
        return Distiller(model, self.loss(), alpha=self.config.distill_alpha,
                         kind=self.config.distill_kind)

    # ---- evaluation, export, prediction -----------------------------------------------------
    def predict_logits(self, model, workdir, split):
        texts, _ = self._split(split)
        if not texts:
            return np.zeros((0, len(config_lib.LABELS)), np.float32)
        return inference.predict_in_order(model, self._buckets(workdir, texts, None))

    def score(self, logits, workdir, split):
        labels = self._split(split)[1]
        if not len(labels):
            return {}
        return {f"{split}_accuracy": float(np.mean(logits.argmax(-1) == labels)),
                f"{split}_examples": len(labels)}

    def evaluate_saved_model(self, path, split="dev"):
        texts, labels = self._split(split)
        outputs = inference.run_signature(path, {"text": texts})
        return {"accuracy": float(np.mean(outputs["probabilities"].argmax(-1) == labels)),
                "examples": len(labels)}

    def export_module(self, model, workdir):
        length = min(self.config.serving_sequence_length, model.backbone.max_sequence_length)
        return export.TextClassifierModule(self._preprocessor(workdir, length), model,
                                           config_lib.LABELS)

    def predict_inputs(self, texts):
        return {"text": texts}

    def predict_outputs(self, outputs, text):
        return {"label": outputs["label"].decode(),
                "probabilities": [round(float(p), 4) for p in outputs["probabilities"]]}
