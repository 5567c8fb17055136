"""AdamW with linear warmup then linear/cosine decay; no weight decay on LayerNorm and biases.

Gradients reach the optimizer already all-reduced across replicas (the trainer reduces them
first so that clipping sees the global norm); `_AllReducedAdamW` skips Keras' own reduction.
"""
import math

import keras
import tensorflow as tf

from keras_llm.training.config import OptimizerConfig

NO_DECAY_NAMES = ["bias", "gamma", "beta"]  # LayerNorm scale/offset and every bias


@keras.saving.register_keras_serializable(package="keras_llm")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step): linear 0 -> peak over `warmup_steps`, then linear/cosine to peak * end_fraction."""

    def __init__(self, peak, warmup_steps, total_steps, decay="linear", end_fraction=0.0):
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.decay = decay
        self.end_fraction = end_fraction

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = float(max(self.warmup_steps, 1))
        warm = self.peak * tf.minimum(1.0, (step + 1.0) / warmup)
        span = float(max(self.total_steps - self.warmup_steps, 1))
        progress = tf.clip_by_value((step - self.warmup_steps) / span, 0.0, 1.0)
        end = self.peak * self.end_fraction
        if self.decay == "linear":
            decayed = end + (self.peak - end) * (1.0 - progress)
        elif self.decay == "cosine":
            decayed = end + (self.peak - end) * 0.5 * (1.0 + tf.cos(math.pi * progress))
        else:
            decayed = tf.constant(self.peak, tf.float32)
        return tf.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "decay": self.decay,
                "end_fraction": self.end_fraction}


class _AllReducedAdamW(keras.optimizers.AdamW):
    def _all_reduce_sum_gradients(self, grads_and_vars):
        return list(grads_and_vars)


class ReduceThenClipAdamW(_AllReducedAdamW):
    """For `model.fit` under a strategy: sums the replicas' gradients *before* clipping.

    Keras clips each replica's gradients and only then all-reduces them, so with clipping on,
    N replicas and one device would take different steps. Here `apply` (which Keras calls in
    replica context) all-reduces first, so clipping sees the global norm, as in `train()`.
    """

    def apply(self, grads, trainable_variables=None):
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            present = [i for i, g in enumerate(grads) if g is not None]
            reduced = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                         [grads[i] for i in present])
            grads = list(grads)
            for i, g in zip(present, reduced):
                grads[i] = g
        return super().apply(grads, trainable_variables)


def build_optimizer(cfg: OptimizerConfig, total_steps: int, model: keras.Model, precision: str,
                    optimizer_class=_AllReducedAdamW):
    """AdamW + WarmupDecay; `optimizer_class=ReduceThenClipAdamW` for `model.fit`."""
    schedule = WarmupDecay(cfg.learning_rate, cfg.warmup_steps, total_steps, cfg.decay,
                           cfg.end_learning_rate_fraction)
    optimizer = optimizer_class(
            learning_rate=schedule, weight_decay=cfg.weight_decay, beta_1=cfg.beta_1,
            beta_2=cfg.beta_2, epsilon=cfg.epsilon, global_clipnorm=cfg.clip_norm,
            name="adamw")
    layer_norm_vars = [v for layer in model._flatten_layers()  # pylint: disable=protected-access
                       if isinstance(layer, keras.layers.LayerNormalization)
                       for v in layer.trainable_variables]
    optimizer.exclude_from_weight_decay(var_list=layer_norm_vars, var_names=NO_DECAY_NAMES)
    if precision == "mixed_float16":
        # float16 gradients underflow without a (dynamic) loss scale.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    return optimizer


def decays(optimizer, variable) -> bool:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return inner._use_weight_decay(variable)  # pylint: disable=protected-access
