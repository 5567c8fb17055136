"""`finetune(task, workdir)`: Keras `model.fit` under a tf.distribute strategy, resumable.

Per run: the library's AdamW + warmup/decay (gradients all-reduced before global-norm
clipping, so N replicas take the step one device takes), mixed precision, `jit_compile`,
evaluation after each epoch (and every `eval_every` steps), TensorBoard scalars, the Keras
progress bar on a terminal and plain log lines otherwise, and checkpoints every
`checkpoint_every` steps. Re-running the same command after a crash (even `kill -9`) restores
the newest checkpoint (model, optimizer, dropout RNG) and continues at its step: the batch order
of every epoch is fixed by (seed, epoch), so the rest of the run sees the batches it would have.

With `finetune.lora_rank` > 0 the backbone is frozen and LoRA adapters are trained with the
task head (keras_llm.models.lora); the adapters are also written on their own.

Workdir: config.json, checkpoints/, history.jsonl (one record per logged step / evaluation),
tensorboard/{train,eval}, model.weights.h5 (final; LoRA adapters merged into the kernels, so a
model built without LoRA loads it), lora_adapters.npz (LoRA runs: adapters + head only),
metrics.json (final evaluation).
"""
import dataclasses
import json
import math
import pathlib
import time
from typing import List, Optional

import keras
import tensorflow as tf
from absl import logging

from keras_llm.finetune.config import RESUMABLE_FIELDS, validate
from keras_llm.models import lora
from keras_llm.training import checkpoint as ckpt_lib
from keras_llm.training import run_log
from keras_llm.training import strategy as strategy_lib
from keras_llm.training.optimizer import ReduceThenClipAdamW, build_optimizer
from keras_llm.utils import cli

WEIGHTS_FILE = "model.weights.h5"
ADAPTERS_FILE = "lora_adapters.npz"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.jsonl"
CONFIG_FILE = "config.json"


@dataclasses.dataclass
class FinetuneResult:
    model: keras.Model
    step: int
    resumed_from: int
    history: List[dict]              # records this process logged ({"step", "loss", "lr"}, evals)
    metrics: dict                    # final evaluation (+ train_seconds, train_steps)


def finetune(task, workdir) -> FinetuneResult:
    """Fine-tunes `task` (a FinetuneTask) into `workdir`, resuming from its newest checkpoint."""
    config = validate(task.finetune_config)
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    strategy = strategy_lib.make_strategy(config.strategy, config.tpu)
    chief = strategy_lib.is_chief(strategy)
    ckpt_lib.check_config(str(workdir), task.config, write=chief, resumable=RESUMABLE_FIELDS)
    if chief:
        task.prepare(workdir)
    keras.config.set_dtype_policy(config.precision)
    try:
        return _Run(task, config, workdir, strategy, chief).run()
    finally:
        keras.config.set_dtype_policy("float32")


def _optimizer_config(config, total_steps: int):
    optimizer = config.optimizer
    if config.warmup_fraction is not None:
        optimizer = dataclasses.replace(
                optimizer, warmup_steps=int(config.warmup_fraction * total_steps))
    return optimizer


class _Run:
    """One process's part of a fine-tuning run (see the module docstring)."""

    def __init__(self, task, config, workdir: pathlib.Path, strategy, chief: bool):
        self.task, self.config, self.workdir, self.chief = task, config, workdir, chief
        self.batches = task.train_batches(workdir)
        self.per_epoch = len(self.batches)
        self.total = config.max_steps or config.epochs * self.per_epoch
        with strategy.scope():
            self.model = task.build_model(workdir, for_training=True)
            if config.lora_rank:
                counts = lora.enable_lora(self.model, config.lora_rank,
                                          config.lora_alpha or None, config.lora_targets)
                logging.info("LoRA rank %d on %d layers: %d of %d parameters trainable "
                             "(%.2f%%).", config.lora_rank, counts["adapted_layers"],
                             counts["trainable"], counts["total"],
                             100.0 * counts["trainable"] / counts["total"])
            self.trained = task.distiller(self.model, workdir) or self.model
            self.optimizer = build_optimizer(
                    _optimizer_config(config, self.total), self.total, self.model,
                    config.precision, optimizer_class=ReduceThenClipAdamW)
            loss = None if self.trained is not self.model else task.loss()
            self.trained.compile(optimizer=self.optimizer, loss=loss, metrics=task.metrics(),
                                 jit_compile=config.jit_compile)
        self.checkpoint = tf.train.Checkpoint(model=self.trained, optimizer=self.optimizer,
                                              rng=ckpt_lib.rng_variables(self.trained))
        directory = ckpt_lib.checkpoint_dir(str(workdir), chief, strategy_lib.worker_id(strategy))
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory,
                                                  config.keep_checkpoints)
        self.history: List[dict] = []
        self.writers = run_log.writers(str(workdir), chief)

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def run(self) -> FinetuneResult:
        ckpt_lib.restore_latest(self.checkpoint, self.manager)
        start = self.step
        if start:
            logging.info("Resuming at step %d of %d.", start, self.total)
        if self.chief:
            run_log.truncate_history(str(self.workdir / HISTORY_FILE), start)
        began = time.time()
        callbacks = [_StepCallback(self)]
        terminal = cli.is_terminal()
        for first, last in _segments(start, self.total, self.per_epoch):
            epochs = max((last - first) // self.per_epoch, 1)
            epoch = first // self.per_epoch
            self.trained.fit(self.batches.dataset(first, last), initial_epoch=epoch,
                             epochs=epoch + epochs, steps_per_epoch=(last - first) // epochs,
                             callbacks=callbacks, shuffle=False,
                             verbose=1 if (terminal and self.chief) else 0)
        metrics = self.evaluate(self.step) or {}
        counts = lora.parameter_counts(self.model)
        metrics.update(trainable_parameters=counts["trainable"],
                       total_parameters=counts["total"])
        metrics.update(train_seconds=round(time.time() - began, 1), train_steps=self.total,
                       train_examples=self.batches.num_examples, resumed_from=start)
        if self.chief:
            self.model.save_weights(self.workdir / WEIGHTS_FILE)
            if self.config.lora_rank:
                lora.save_adapters(self.model, self.workdir / ADAPTERS_FILE)
            (self.workdir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
        logging.info("Fine-tuning done at step %d: %s", self.step, metrics)
        return FinetuneResult(self.model, self.step, start, self.history, metrics)

    def evaluate(self, step: int) -> Optional[dict]:
        metrics = self.task.evaluate(self.model, self.workdir)
        if not metrics:
            logging.warning("Step %d: evaluation measured nothing (no examples); no metric "
                            "reported.", step)
            return None
        self.record({"step": step, "eval": metrics}, self.writers[1])
        logging.info("step %d eval %s", step, metrics)
        return dict(metrics)

    def record(self, record: dict, writer) -> None:
        self.history.append(record)
        values = record.get("eval", {k: v for k, v in record.items() if k != "step"})
        run_log.write_scalars(writer, record["step"],
                         {k: v for k, v in values.items() if isinstance(v, (int, float))})
        if self.chief:
            run_log.append_json(str(self.workdir / HISTORY_FILE), record)


class _StepCallback(keras.callbacks.Callback):
    """Logs, checkpoints and evaluates on global steps (not per-fit-call batch numbers)."""

    def __init__(self, run: _Run):
        super().__init__()
        self.run = run
        self.epoch_started = time.time()
        self.plain = None if cli.is_terminal() else cli.PlainProgress(run.total,
                                                                       verbose=run.chief)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.time()

    def on_train_batch_end(self, batch, logs=None):
        run, step = self.run, self.run.step
        config = run.config
        loss = float((logs or {}).get("loss", math.nan))
        if step % config.log_every == 0 or step == run.total:
            lr = float(run.optimizer.learning_rate)
            run.record({"step": step, "loss": loss, "lr": lr}, run.writers[0])
            if self.plain is not None:  # not a terminal: Keras' bar is off
                self.plain.update(step, [("loss (epoch mean)", loss), ("lr", lr), (
                        "s/step", (time.time() - self.epoch_started) / max(batch + 1, 1))])
        if step % config.checkpoint_every == 0 and step % run.per_epoch:
            run.manager.save(checkpoint_number=step)
        if config.eval_every and step % config.eval_every == 0 and step % run.per_epoch:
            run.evaluate(step)

    def on_epoch_end(self, epoch, logs=None):
        run, step = self.run, self.run.step
        run.manager.save(checkpoint_number=step)
        if step < run.total:  # the final evaluation runs after training
            run.evaluate(step)


def _segments(start: int, total: int, per_epoch: int):
    """[first, last) step ranges, one `fit` call each: the rest of a resumed epoch, the whole
    epochs (one call: Keras keeps its iterator across them), a last partial epoch."""
    bounds = [start, min(-(-start // per_epoch) * per_epoch, total),
              max(total // per_epoch * per_epoch, start), total]
    bounds = sorted(set(bounds))
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
