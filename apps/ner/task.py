"""CoNLL-2003 NER on the fine-tuning library: a BertTokenClassifier tagging each word's first
piece (keras_llm.models.bert.word_preprocessor), scored by entity F1 (conlleval rules,
keras_llm.evaluation.entity_f1) on valid, host-side or through the SavedModel's `tag_words`.
Workdir files besides the library's (keras_llm/finetune/loop.py): vocab.txt.
"""
import numpy as np
import tensorflow as tf

from apps.ner import config as config_lib
from apps.ner import data
from keras_llm import export, models
from keras_llm.evaluation import entity_f1
from keras_llm.finetune import Distiller, FinetuneTask, LengthBuckets, bert, inference
from keras_llm.models.bert.backbone import INPUT_KEYS
from keras_llm.models.bert.entity_decoding import classes_to_tags
from keras_llm.models.bert.token_classification import token_classification_loss
from keras_llm.models.bert.word_preprocessor import (IGNORE, BertWordPreprocessor,
                                                     word_predictions_numpy)
from keras_llm.tokenizers.wordpiece import load_vocabulary

LABELS = config_lib.LABELS


class NERTask(FinetuneTask):
    SAVED_MODEL_EVALUATION = "SavedModel tag_words signature (pre-split words -> IOB2 tags)"
    CONFIG_CLASS = config_lib.NERConfig

    # ---- files, model, data ----------------------------------------------------------------
    def prepare(self, workdir):
        bert.write_vocabulary(self.config.model, workdir, self.vocabulary_texts)

    def vocabulary_texts(self):
        return [" ".join(s.words) for s in self._split("train")]

    def _preprocessor(self, workdir, length=None) -> BertWordPreprocessor:
        return BertWordPreprocessor(bert.vocabulary_path(workdir),
                                    length or self.config.sequence_length)

    def build_model(self, workdir, for_training=True):
        return models.BertTokenClassifier(
                bert.build_backbone(self.config.model, workdir, for_training), len(LABELS),
                dropout=self.config.model.dropout)

    def _split(self, split):
        sentences = data.read_conll(data.split_path(self.config.data_dir, split), LABELS)
        if split == "train" and self.config.max_examples:
            return sentences[:self.config.max_examples]
        return sentences

    def _buckets(self, workdir, sentences, with_labels, shuffle=False, batch_size=64):
        preprocessor = self._preprocessor(workdir)
        tags = [[LABELS.index(t) for t in s.tags] for s in sentences] if with_labels else None
        encoded = preprocessor.encode([s.words for s in sentences], tags)
        targets = None
        if with_labels:
            targets = np.empty(len(sentences), object)
            targets[:] = [np.asarray(row, np.int32) for row in encoded["labels"]]
        return LengthBuckets({k: encoded[k] for k in INPUT_KEYS}, targets, batch_size,
                             self.config.sequence_length, self.finetune_config.bucket_boundaries,
                             pad_values={"token_ids": preprocessor.pad_token_id},
                             target_pad=IGNORE, shuffle=shuffle, seed=self.finetune_config.seed)

    def train_batches(self, workdir):
        return self._buckets(workdir, self._split("train"), True, shuffle=True,
                             batch_size=self.finetune_config.batch_size)

    # ---- training ----------------------------------------------------------------------------
    def loss(self):
        return token_classification_loss()

    def distiller(self, model, workdir):
        """With `teacher_workdir`: the student follows that trained model's tag distribution on
        every scored word (its first piece), mixed with the gold tags by `distill_alpha`."""
        if not self.config.teacher_workdir:
            return None
        from keras_llm.finetune import cli  # pylint: disable=import-outside-toplevel
        teacher_dir = self.config.teacher_workdir
        _, teacher = cli.load_workdir(NERTask, teacher_dir)
        if (load_vocabulary(bert.vocabulary_path(teacher_dir))
                != load_vocabulary(bert.vocabulary_path(workdir))):
            raise ValueError(f"The teacher {teacher_dir} has another vocabulary than the "
                             "student: distillation on the fly needs the same token ids "
                             "(model.kind=preset, the teacher's preset).")
        return Distiller(model, self.loss(), teacher=teacher, alpha=self.config.distill_alpha,
                         temperature=self.config.distill_temperature,
                         kind=self.config.distill_kind,
                         mask_fn=lambda inputs, labels: labels != IGNORE)

    # ---- evaluation, export, prediction -----------------------------------------------------
    def evaluate(self, model, workdir, split="valid"):
        return self.score(self.predict_logits(model, workdir, split), workdir, split)

    def predict_logits(self, model, workdir, split):
        sentences = self._split(split)
        if not sentences:
            return np.zeros((0, self.config.sequence_length, len(LABELS)), np.float32)
        return inference.predict_in_order(model, self._buckets(workdir, sentences, False))

    def score(self, logits, workdir, split):
        """Entity scores of `predict_logits`' per-token logits (N, T, C)."""
        sentences = self._split(split)
        if not sentences:
            return {}
        words = [s.words for s in sentences]
        encoded = self._preprocessor(workdir).encode(words)
        classes = word_predictions_numpy(logits, encoded["word_ids"], encoded["first_subword"],
                                         [len(w) for w in words])
        predicted = [classes_to_tags(c, LABELS) for c in classes]
        return _metrics(split, entity_f1.entity_scores([s.tags for s in sentences], predicted))

    def evaluate_saved_model(self, path, split="valid"):
        sentences = self._split(split)
        tag_words = tf.saved_model.load(str(path)).signatures["tag_words"]
        predicted = []
        for first in range(0, len(sentences), 64):
            batch = [s.words for s in sentences[first:first + 64]]
            width = max(len(w) for w in batch)
            tags = tag_words(words=tf.constant([w + [""] * (width - len(w)) for w in batch]))
            predicted += [[t.decode() for t in row[:len(w)]]
                          for row, w in zip(tags["tags"].numpy(), batch)]
        return _metrics(split, entity_f1.entity_scores([s.tags for s in sentences], predicted))

    def export_module(self, model, workdir):
        length = min(self.config.serving_sequence_length, model.backbone.max_sequence_length)
        return export.EntityRecognitionModule(self._preprocessor(workdir, length), model, LABELS)

    def predict_inputs(self, texts):
        return {"text": texts}

    def predict_outputs(self, outputs, text):
        return {"entities": [
                {"text": t.decode("utf-8"), "type": y.decode("utf-8"), "start": int(s),
                 "end": int(e)}
                for t, y, s, e in zip(outputs["entity_text"], outputs["entity_type"],
                                      outputs["entity_start"], outputs["entity_end"]) if s >= 0]}


def _metrics(split: str, scores: dict) -> dict:
    """Flat metrics (history and TensorBoard take numbers only), rounded."""
    split = "valid" if split == "dev" else split
    out = {f"{split}_{k}": round(scores[k], 2) for k in ("f1", "precision", "recall")}
    for kind, values in scores["per_type"].items():
        out[f"{split}_f1_{kind}"] = round(values["f1"], 2)
    out[f"{split}_entities"] = scores["entities"]
    out[f"{split}_sentences"] = scores["sentences"]
    return out
