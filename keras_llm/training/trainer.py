"""`train(config, workdir)`: one function from a typed config to a trained, checkpointed model.

The loop is a custom `tf.function` under a tf.distribute strategy rather than `model.fit`
because the data iterator and the step must live in the same checkpoint to resume exactly.
Per optimizer step: `gradient_accumulation_steps` micro-batches of `global_batch_size`; each
micro-batch loss is normalised by its global (all-replica) count of target tokens; gradients
are summed across replicas before clipping, so clipping sees the true global norm and one
device and N replicas produce the same update.
"""
import dataclasses
import json
import math
import os
import time
from typing import List, Optional

import keras
import tensorflow as tf
from absl import logging

from keras_llm.training import checkpoint as ckpt_lib
from keras_llm.training import run_log
from keras_llm.training import data, objectives
from keras_llm.training import strategy as strategy_lib
from keras_llm.training import tokenizer as tok_lib
from keras_llm.training.config import TrainConfig, validate
from keras_llm.training.models import build_model
from keras_llm.training.optimizer import build_optimizer
from keras_llm.utils import cli

SUM = tf.distribute.ReduceOp.SUM


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    backbone: keras.Model
    tokenizer: object
    step: int
    resumed_from: int
    losses: List[dict]                # {"step", "loss", "lr"} for every step run by this process
    eval_metrics: Optional[dict]
    tokens_per_second: float


def _token_count(features):
    masks = [v for k, v in features.items() if k.endswith("padding_mask")]
    return tf.add_n([tf.reduce_sum(tf.cast(m, tf.float32)) for m in masks])


class _Steps:
    """Builds the distributed train and eval step functions."""

    def __init__(self, config: TrainConfig, strategy, model, optimizer, step):
        self.config, self.strategy = config, strategy
        workers = strategy_lib.num_workers(strategy)
        self.local_replicas = strategy.num_replicas_in_sync // workers
        self.first_replica = strategy_lib.worker_id(strategy) * self.local_replicas
        self.model, self.optimizer, self.step = model, optimizer, step
        jit = config.jit_compile or config.strategy == "tpu"
        self.compute_grads = tf.function(self._compute_grads, jit_compile=jit)
        self.eval_batch = tf.function(self._eval_batch, jit_compile=jit)
        # Bucketed batches have a few distinct shapes: let tf.function generalise over them.
        dynamic = not config.data.fixed_shapes
        self.train_step = tf.function(self._train_step, reduce_retracing=dynamic)
        self.eval_step = tf.function(self._eval_step, reduce_retracing=dynamic)

    def _compute_grads(self, features, labels, weights, count):
        with tf.GradientTape() as tape:
            logits = self.model(features, training=True)
            loss_sum, _ = objectives.weighted_cross_entropy(
                    labels, logits, weights, self.config.label_smoothing)
            loss = loss_sum / tf.maximum(count, 1.0)
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.model.trainable_variables)
        # None: a variable the objective does not use (e.g. BERT's pooler under MLM).
        return loss, [None if g is None else tf.convert_to_tensor(g) for g in grads]

    def _local_part(self, batch):
        """This replica's rows of the worker's batch (every replica receives the whole batch)."""
        if self.local_replicas == 1:
            return batch
        ctx = tf.distribute.get_replica_context()
        index = ctx.replica_id_in_sync_group - self.first_replica

        def part(x):
            size = tf.shape(x)[0] // self.local_replicas
            return x[index * size: (index + 1) * size]
        return tf.nest.map_structure(part, batch)

    def _replica_step(self, batches):
        ctx = tf.distribute.get_replica_context()
        k = len(batches)
        total_loss, total_tokens, grads = 0.0, 0.0, None
        for batch in batches:
            features, labels, weights = self._local_part(batch)
            count = ctx.all_reduce(SUM, tf.reduce_sum(weights))
            loss, micro = self.compute_grads(features, labels, weights, count)
            grads = micro if grads is None else [
                    None if a is None else a + g for a, g in zip(grads, micro)]
            total_loss += loss / k
            total_tokens += _token_count(features)
        used = [(g / k if k > 1 else g, v)
                for g, v in zip(grads, self.model.trainable_variables) if g is not None]
        reduced = ctx.all_reduce(SUM, [g for g, _ in used])
        self.optimizer.apply(reduced, [v for _, v in used])
        return total_loss, total_tokens

    def _train_step(self, iterator):
        batches = tuple(next(iterator) for _ in range(self.config.gradient_accumulation_steps))
        loss, tokens = self.strategy.run(self._replica_step, args=(batches,))
        self.step.assign_add(1)
        return self.strategy.reduce(SUM, loss, None), self.strategy.reduce(SUM, tokens, None)

    def _eval_batch(self, features, labels, weights):
        logits = self.model(features, training=False)
        loss_sum, count = objectives.weighted_cross_entropy(labels, logits, weights)
        hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
        return tf.stack([loss_sum, count, tf.reduce_sum(hits * weights)])

    def _eval_step(self, batch):
        sums = self.strategy.run(lambda b: self.eval_batch(*self._local_part(b)), args=(batch,))
        return self.strategy.reduce(SUM, sums, None)


def _evaluate(steps: _Steps, eval_ds) -> Optional[dict]:
    """Loss, perplexity and accuracy over the held-out batches; None if they hold no targets."""
    totals = tf.zeros([3])
    for batch in eval_ds:
        totals += steps.eval_step(batch)
    loss_sum, count, hits = (float(x) for x in totals.numpy())
    if count <= 0:
        _warn_empty_eval(steps.config)
        return None
    loss = loss_sum / count
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)),
            "accuracy": hits / count, "target_tokens": count}


def _warn_empty_eval(config: TrainConfig) -> None:
    where = (f"data.eval_files={list(config.data.eval_files)}" if config.data.eval_files
             else f"the held-out data.eval_fraction={config.data.eval_fraction} of each file")
    logging.warning(
            "Evaluation measured nothing: %s gave no full batch of global_batch_size=%d "
            "sequences of data.sequence_length=%d tokens, so no eval metric is reported. Give "
            "more held-out text (data.eval_files or a larger data.eval_fraction) or a smaller "
            "global_batch_size.", where, config.global_batch_size, config.data.sequence_length)


def _setup(config: TrainConfig, workdir: str, strategy):
    """Tokenizer, model, optimizer, step counter and datasets, created under the strategy."""
    tokenizer = tok_lib.build_tokenizer(config.tokenizer, workdir,
                                        lambda: data.texts_for_vocabulary(config))
    special = tok_lib.special_token_ids(tokenizer)
    vocab_size = tok_lib.vocabulary_size(tokenizer)
    if config.objective == "mlm" and special["mask"] is None:
        raise ValueError(f"objective=mlm needs a tokenizer with a [MASK] token; "
                         f"tokenizer.kind={config.tokenizer.kind!r} has none.")
    with strategy.scope():
        model, backbone = build_model(config.model, vocab_size)
        optimizer = build_optimizer(config.optimizer, config.num_steps, model, config.precision)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    # Plain per-worker tf.data iterators (checkpointable, unlike distributed iterators); each
    # worker reads its shard, replicas slice their rows inside the step.
    workers = strategy_lib.num_workers(strategy)
    if config.global_batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"global_batch_size={config.global_batch_size} is not divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas.")
    shard = (workers, strategy_lib.worker_id(strategy))
    batch = config.global_batch_size // workers
    train_ds = data.make_dataset(config, tokenizer, special, vocab_size, "train", batch, shard)
    eval_ds = data.make_dataset(config, tokenizer, special, vocab_size, "eval", batch, shard)
    return (tokenizer, model, backbone, optimizer, step, train_ds,
            eval_ds.take(config.data.max_eval_batches))


def train(config: TrainConfig, workdir: str) -> TrainResult:
    """Trains `config` in `workdir`, resuming from its newest checkpoint if there is one."""
    config = validate(config)
    data.check_files(config)  # before any slow set-up: a wrong path fails in a second
    logging.info("Training data: %s", ", ".join(config.data.train_files))
    keras.utils.set_random_seed(config.seed)
    strategy = strategy_lib.make_strategy(config.strategy, config.tpu)
    chief = strategy_lib.is_chief(strategy)
    os.makedirs(workdir, exist_ok=True)
    ckpt_lib.check_config(workdir, config, write=chief)
    keras.config.set_dtype_policy(config.precision)
    try:
        return _run(config, workdir, strategy, chief)
    finally:
        keras.config.set_dtype_policy("float32")


def _run(config: TrainConfig, workdir: str, strategy, chief: bool) -> TrainResult:
    tokenizer, model, backbone, optimizer, step, train_ds, eval_ds = _setup(
            config, workdir, strategy)
    iterator = iter(train_ds)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step, data=iterator,
                                     rng=ckpt_lib.rng_variables(model))
    directory = ckpt_lib.checkpoint_dir(workdir, chief, strategy_lib.worker_id(strategy))
    manager = tf.train.CheckpointManager(checkpoint, directory, config.keep_checkpoints)
    ckpt_lib.restore_latest(checkpoint, manager)
    start = int(step.numpy())
    if start:
        logging.info("Resuming at step %d of %d.", start, config.num_steps)
    history = os.path.join(workdir, "history.jsonl")
    if chief:
        run_log.truncate_history(history, start)  # steps run after `start` by a killed process
    steps = _Steps(config, strategy, model, optimizer, step)
    train_writer, eval_writer = run_log.writers(workdir, chief)
    # Keras' bar on a terminal; plain lines when stdout is a log file or a pipe.
    progbar = cli.progress_bar(config.num_steps, stateful_metrics=["loss", "lr", "tok/s"],
                               verbose=chief and config.verbose)
    losses, eval_metrics, evaluated, timed_tokens, timed_seconds = [], None, False, 0.0, 0.0
    while int(step.numpy()) < config.num_steps:
        t0 = time.perf_counter()
        loss, tokens = steps.train_step(iterator)
        loss, tokens, s = float(loss), float(tokens), int(step.numpy())
        if s > start + 1:  # the first step of a process includes tracing/compilation
            timed_seconds += time.perf_counter() - t0
            timed_tokens += tokens
        lr = float(optimizer.learning_rate)
        if not math.isfinite(loss) and config.precision != "mixed_float16":
            raise FloatingPointError(f"Loss is {loss} at step {s}; lower optimizer.learning_rate.")
        losses.append({"step": s, "loss": loss, "lr": lr})
        if s % config.log_every == 0 or s == config.num_steps:
            rate = timed_tokens / timed_seconds if timed_seconds else 0.0
            run_log.write_scalars(train_writer, s, {"loss": loss, "learning_rate": lr,
                                               "tokens_per_second": rate})
            progbar.update(s, [("loss", loss), ("lr", lr), ("tok/s", rate)])
            if chief:
                run_log.append_json(history, {"step": s, "loss": loss, "lr": lr,
                                              "tokens_per_second": rate})
        if config.data.max_eval_batches and (s % config.eval_every == 0 or s == config.num_steps):
            eval_metrics, evaluated = _evaluate(steps, eval_ds), True
            if eval_metrics is not None:
                run_log.write_scalars(eval_writer, s, eval_metrics)
                logging.info("step %d eval %s", s, eval_metrics)
                if chief:
                    run_log.append_json(history, {"step": s, "eval": eval_metrics})
        if s % config.checkpoint_every == 0 or s == config.num_steps:
            manager.save(checkpoint_number=s)
    if not evaluated and config.data.max_eval_batches:
        eval_metrics = _evaluate(steps, eval_ds)  # e.g. restarted after the final checkpoint
    rate = timed_tokens / timed_seconds if timed_seconds else 0.0
    return TrainResult(model, backbone, tokenizer, int(step.numpy()), start, losses,
                       eval_metrics, rate)


def save_preset(result: TrainResult, workdir: str, preset_dir: str):
    """The trained backbone and its tokenizer files (workdir/vocab/) as a preset folder, which
    `BertBackbone.from_preset(preset_dir)` (or GptBackbone's) loads for fine-tuning."""
    vocab = os.path.join(workdir, "vocab")
    files = [os.path.join(vocab, n) for n in sorted(os.listdir(vocab))] if os.path.isdir(
            vocab) else []
    config_file = os.path.join(workdir, "config.json")
    if not files and os.path.isfile(config_file):  # tokenizer.vocabulary/merges given by path
        with open(config_file, encoding="utf-8") as f:
            tokenizer = json.load(f).get("tokenizer", {})
        # Under the names the preset loaders read, whatever the files were called.
        names = ({"vocabulary": "vocab.txt"} if tokenizer.get("kind") == "wordpiece"
                 else {"vocabulary": "vocab.json", "merges": "merges.txt"})
        files = {names[k]: tokenizer[k] for k in names if tokenizer.get(k)}
    return result.backbone.save_to_preset(preset_dir, tokenizer_files=files)
