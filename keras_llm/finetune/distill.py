"""Knowledge distillation: soft targets for sequence-, token- and span-level heads.

    student = Distiller(student_model, hard_loss, alpha=1.0, kind="mse")      # y = (labels,
    student.compile(optimizer)                                                #  teacher logits)
    Distiller(student_model, hard_loss, teacher=teacher_model, temperature=2.0)  # y = labels
    Distiller(student, hard_loss, teacher=teacher, mask_fn=lambda x, labels: labels >= 0)

The soft loss compares logits over their last axis, leaf by leaf of the output structure:
sequence heads (B, C); token heads (B, T, C) with a (B, T) weight mask; span heads, e.g.
{"start_logits", "end_logits"} (B, T) each, with a (B, T) mask of allowed positions.
- kind="kl": temperature^2 * KL(softmax(teacher / temperature) || softmax(student / temperature))
  (Hinton et al. 2015);
- kind="mse": mean squared difference of the logits (Tang et al. 2019, BERT -> small models).
loss = alpha * soft + (1 - alpha) * hard(labels, student outputs).
"""
from typing import Callable, Optional

import keras
import tensorflow as tf

KINDS = ("kl", "mse")
_MASKED = -1e9


def soft_target_loss(student, teacher, kind: str = "kl", temperature: float = 1.0,
                     mask: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Per-example soft-target loss (B,) between logits over the last axis.

    `mask` of the logits' rank excludes classes/positions from both distributions (span heads);
    of rank - 1 it weights positions (token heads: 1 on scored tokens, 0 on padding).
    """
    if kind not in KINDS:
        raise ValueError(f"distillation kind must be one of {KINDS}, got {kind!r}.")
    student = tf.cast(student, tf.float32)
    teacher = tf.cast(teacher, tf.float32)
    weights = None
    if mask is not None:
        mask = tf.cast(mask, tf.float32)
        if mask.shape.rank == student.shape.rank:  # over the class axis
            student = student + (1.0 - mask) * _MASKED
            teacher = teacher + (1.0 - mask) * _MASKED
        else:
            weights = mask
    if kind == "kl":
        log_p = tf.nn.log_softmax(teacher / temperature, axis=-1)
        log_q = tf.nn.log_softmax(student / temperature, axis=-1)
        per_item = temperature ** 2 * tf.reduce_sum(tf.exp(log_p) * (log_p - log_q), axis=-1)
    else:
        if mask is not None and weights is None:  # masked classes do not count
            diff = tf.square(student - teacher) * mask
            per_item = tf.reduce_sum(diff, -1) / tf.maximum(tf.reduce_sum(mask, -1), 1.0)
        else:
            per_item = tf.reduce_mean(tf.square(student - teacher), axis=-1)
    # per_item: (B,) for sequence heads, (B, T) for token heads.
    if per_item.shape.rank == 1:
        return per_item
    weights = tf.ones_like(per_item) if weights is None else weights
    axes = list(range(1, per_item.shape.rank))
    return tf.reduce_sum(per_item * weights, axes) / tf.maximum(tf.reduce_sum(weights, axes), 1.0)


def _scale_for_replicas(loss):
    """Keras sums replica gradients: a replica's mean loss is divided by the replica count."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


class Distiller(keras.Model):
    """Trains `student` toward a teacher's logits (fixed, in y, or from a `teacher` model).

    Args:
        student: the model being trained (its outputs: logits, or a dict of logits).
        hard_loss: `hard_loss(labels, student_outputs)`, e.g. the task's keras Loss.
        teacher: a model called on the same inputs; None: y = (labels, teacher_logits).
        alpha: weight of the soft loss (1.0: teacher only).
        mask_fn: `mask_fn(inputs, labels) -> mask` for token/span heads (see
            soft_target_loss), e.g. the positions a token head is scored on.
    """

    def __init__(self, student, hard_loss: Callable, teacher=None, alpha: float = 1.0,
                 temperature: float = 1.0, kind: str = "kl", mask_fn=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
        if kind not in KINDS:
            raise ValueError(f"distillation kind must be one of {KINDS}, got {kind!r}.")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        self.student, self.teacher, self.hard_loss = student, teacher, hard_loss
        self.alpha, self.temperature, self.kind, self.mask_fn = alpha, temperature, kind, mask_fn
        if teacher is not None:
            teacher.trainable = False

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def _labels_and_teacher(self, x, y):
        if self.teacher is None:
            return y
        return y, self.teacher(x, training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels, teacher = self._labels_and_teacher(x, y)
        mask = self.mask_fn(x, labels) if self.mask_fn else None
        soft = tf.nest.map_structure(
                lambda s, t: tf.reduce_mean(soft_target_loss(s, t, self.kind, self.temperature,
                                                             mask)), y_pred, teacher)
        loss = self.alpha * _scale_for_replicas(tf.add_n(tf.nest.flatten(soft)))
        if self.alpha < 1.0:
            loss += (1.0 - self.alpha) * self.hard_loss(labels, y_pred)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        labels = y if self.teacher is not None else y[0]
        return super().compute_metrics(x, labels, y_pred, sample_weight)
