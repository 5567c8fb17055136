"""Server-side batching: concurrent Predict requests on one signature run as one call.

Each request (a "task") holds inputs of batch size b_i. Worker threads take queued
tasks whose non-batch shapes agree, up to max_batch_size rows, waiting at most
batch_timeout_micros after the oldest task for more to arrive; the inputs are
concatenated along B, the signature runs once and the outputs are split back.
Variable-length string inputs (shape [B]) concatenate without padding.
"""
import collections
import threading
import time

import numpy as np

from keras_llm.serving import errors

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"


class _Task:
    def __init__(self, inputs, size):
        self.inputs = inputs
        self.size = size
        self.key = tuple(sorted((a, v.shape[1:], v.dtype.kind) for a, v in inputs.items()))
        self.enqueued = time.monotonic()
        self.done = threading.Event()
        self.outputs = None
        self.error = None


class Batcher:
    """Queues tasks for one Signature and runs them in batches."""

    def __init__(self, signature, config, name=""):
        self._signature = signature
        self._config = config
        self._name = name
        self._queue = collections.deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, daemon=True,
                                          name=f"batch-{name}-{i}")
                         for i in range(config.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, inputs, timeout=None):
        """Runs `inputs` (already checked) as part of a batch; returns outputs."""
        size = _batch_size(inputs)
        cfg = self._config
        if size > cfg.max_batch_size:
            raise errors.invalid(f"Task size {size} is larger than maximum input batch size "
                                 f"{cfg.max_batch_size}")
        task = _Task(inputs, size)
        with self._cond:
            if self._closed:
                raise errors.ServingError("UNAVAILABLE", "model version is being unloaded")
            capacity = cfg.max_enqueued_batches * cfg.max_batch_size
            if self._queued_rows + size > capacity:
                raise errors.ServingError("UNAVAILABLE", QUEUE_FULL)
            self._queue.append(task)
            self._queued_rows += size
            # Wake a worker only when the first task starts a batch timer or a batch may
            # be full: one wake per batch instead of one per request (each wake costs a
            # GIL hand-off and a scan of the queue).
            if len(self._queue) == 1 or self._queued_rows >= cfg.max_batch_size:
                self._cond.notify()
        if not task.done.wait(timeout):
            with self._cond:
                if task in self._queue:
                    self._queue.remove(task)
                    self._queued_rows -= task.size
            raise errors.ServingError("DEADLINE_EXCEEDED",
                                      "Deadline exceeded while waiting in the batch queue")
        if task.error is not None:
            raise task.error
        return task.outputs

    def close(self):
        """Stops accepting tasks; queued ones still run; waits for the workers."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def _work(self):
        while True:
            tasks = self._next_batch()
            if tasks is None:
                return
            self._run(tasks)

    def _next_batch(self):
        timeout = self._config.batch_timeout_micros / 1e6
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            deadline = self._queue[0].enqueued + timeout
            while (not self._closed and self._rows_ready() < self._config.max_batch_size
                   and time.monotonic() < deadline):
                self._cond.wait(max(deadline - time.monotonic(), 0))
                if not self._queue:
                    return []
            return self._take()

    def _rows_ready(self):
        key = self._queue[0].key
        return sum(t.size for t in self._queue if t.key == key)

    def _take(self):
        key, rows, taken, kept = self._queue[0].key, 0, [], collections.deque()
        while self._queue:
            task = self._queue.popleft()
            if task.key == key and rows + task.size <= self._config.max_batch_size:
                taken.append(task)
                rows += task.size
            else:
                kept.append(task)
        self._queue = kept
        self._queued_rows -= rows
        if kept:   # left-over tasks start the next batch's timer on an idle worker
            self._cond.notify()
        return taken

    def _run(self, tasks):
        if not tasks:
            return
        try:
            if len(tasks) == 1:
                outputs = [self._signature.run(tasks[0].inputs)]
            else:
                merged = {alias: np.concatenate([t.inputs[alias] for t in tasks])
                          for alias in tasks[0].inputs}
                outputs = _split(self._signature.run(merged), [t.size for t in tasks])
            for task, out in zip(tasks, outputs):
                task.outputs = out
        except Exception as e:  # one failure fails every task of the batch
            error = errors.from_exception(e)
            for task in tasks:
                task.error = error
        for task in tasks:
            task.done.set()


def _batch_size(inputs):
    sizes = {v.shape[0] if v.ndim else 1 for v in inputs.values()}
    if len(sizes) != 1:
        raise errors.invalid(f"all inputs must share the batch dimension, got {sorted(sizes)}")
    return sizes.pop()


def _split(outputs, sizes):
    """Splits each output along B back into per-task pieces."""
    total = sum(sizes)
    bounds = np.cumsum(sizes)[:-1]
    per_task = [dict() for _ in sizes]
    for alias, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != total:
            raise errors.ServingError(
                    "INTERNAL", f"batched output {alias!r} has shape {list(value.shape)}; "
                    f"batching needs outputs whose first dimension is the batch ({total})")
        for piece, target in zip(np.split(value, bounds), per_task):
            target[alias] = piece
    return per_task
