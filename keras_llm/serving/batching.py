"""Server-side batching: concurrent Predict requests on one signature run as one call.

Each request (a "task") holds inputs of batch size b_i. Worker threads take queued
tasks whose non-batch shapes agree, up to max_batch_size rows, waiting at most
batch_timeout_micros after the oldest task for more to arrive; the inputs are
concatenated along B, the signature runs once and the outputs are split back.
Variable-length string inputs (shape [B]) concatenate without padding.

As in TF Serving's batching session:
- `allowed_batch_sizes`: a merged batch of n rows is padded up to the smallest allowed size
  >= n with copies of its first row; the padding rows' outputs are dropped.
- `pad_variable_length_inputs`: tasks whose inputs differ in non-batch dimensions (same
  rank and dtype) share a batch; each input is padded to the largest size in every
  dimension with its own first element (models that take such inputs carry the true
  lengths themselves). Outputs are split along B only. Without it, such tasks simply run in
  separate batches (stock TF Serving fails them instead).

A task's answer arrives on a concurrent.futures.Future, so a caller can block (`submit`) or
await it on an event loop (`submit_async`) without a thread per waiting request.
"""
import asyncio
import collections
import concurrent.futures
import threading
import time

import numpy as np

from keras_llm.serving import errors

QUEUE_FULL = "The batch scheduling queue to which this task was submitted is full"


DEADLINE = "Deadline exceeded while waiting in the batch queue"


class _Task:
    def __init__(self, inputs, size, pad, waiter):
        self.inputs = inputs
        self.size = size
        # Tasks with equal keys can share a batch: same aliases, dtypes and (unless padding
        # is on) non-batch shapes.
        self.key = tuple(sorted((a, v.ndim if pad else v.shape[1:], v.dtype.kind)
                                for a, v in inputs.items()))
        self.enqueued = time.monotonic()
        self.future = concurrent.futures.Future()
        self.waiter = waiter       # (event loop, asyncio future) of an async caller, or None


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
        """Runs `inputs` (already checked) as part of a batch; returns outputs (blocking)."""
        task = self._enqueue(inputs)
        try:
            return task.future.result(timeout)
        except concurrent.futures.TimeoutError:
            self._abandon(task)
            raise errors.ServingError("DEADLINE_EXCEEDED", DEADLINE) from None

    async def submit_async(self, inputs, timeout=None):
        """`submit` for an asyncio caller: awaits the batch without holding a thread."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        task = self._enqueue(inputs, (loop, waiter))
        try:
            return await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            self._abandon(task)
            raise errors.ServingError("DEADLINE_EXCEEDED", DEADLINE) from None

    def _enqueue(self, inputs, waiter=None):
        size = _batch_size(inputs)
        cfg = self._config
        if size > cfg.max_batch_size:
            raise errors.invalid(f"Task size {size} is larger than maximum input batch size "
                                 f"{cfg.max_batch_size}")
        task = _Task(inputs, size, cfg.pad_variable_length_inputs, waiter)
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
        return task

    def _abandon(self, task):
        """Drops a timed-out task that has not started; a running one just finishes."""
        with self._cond:
            if task in self._queue:
                self._queue.remove(task)
                self._queued_rows -= task.size
        task.future.cancel()

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
                if task.future.set_running_or_notify_cancel():
                    taken.append(task)
                    rows += task.size
                else:                        # its caller gave up (deadline): drop it
                    self._queued_rows -= task.size
            elif task.future.cancelled():
                self._queued_rows -= task.size
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
            sizes = [t.size for t in tasks]
            if len(tasks) == 1 and not self._config.allowed_batch_sizes:
                outputs = [self._signature.run(tasks[0].inputs)]
            else:
                rows = self._padded_size(sum(sizes))
                merged = {alias: _merge([t.inputs[alias] for t in tasks], rows)
                          for alias in tasks[0].inputs}
                outputs = _split(self._signature.run(merged), sizes, rows)
        except Exception as e:  # one failure fails every task of the batch
            error = errors.from_exception(e)
            _deliver(tasks, [None] * len(tasks), error)
            return
        _deliver(tasks, outputs, None)

    def _padded_size(self, rows):
        """The smallest allowed batch size >= rows (rows itself if none are set)."""
        return next((n for n in self._config.allowed_batch_sizes if n >= rows), rows)


def _deliver(tasks, outputs, error):
    """Completes every task of a batch: blocking callers through their futures; async callers
    with ONE wake-up of their event loop per batch (not one per task)."""
    by_loop = collections.defaultdict(list)
    for task, out in zip(tasks, outputs):
        if error is None:
            task.future.set_result(out)
        else:
            task.future.set_exception(error)
        if task.waiter is not None:
            loop, waiter = task.waiter
            by_loop[loop].append((waiter, out))
    for loop, waiters in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, waiters, error)
        except RuntimeError:   # the caller's loop is closed: nobody is waiting any more
            pass


def _resolve(waiters, error):
    for waiter, out in waiters:
        if waiter.done():      # the caller gave up (deadline)
            continue
        if error is None:
            waiter.set_result(out)
        else:
            waiter.set_exception(error)


def _merge(arrays, rows):
    """Concatenates task inputs along B: non-batch dimensions padded to the largest with
    each array's first element, then B padded to `rows` with copies of the first row."""
    shape = np.max([a.shape for a in arrays], axis=0)
    padded = []
    for a in arrays:
        if tuple(a.shape[1:]) != tuple(shape[1:]):
            full = np.full((a.shape[0],) + tuple(shape[1:]), a.flat[0] if a.size else
                           np.zeros((), a.dtype)[()], dtype=a.dtype)
            full[tuple(slice(0, n) for n in a.shape)] = a
            a = full
        padded.append(a)
    merged = np.concatenate(padded)
    if rows > merged.shape[0]:
        merged = np.concatenate([merged, np.repeat(merged[:1], rows - merged.shape[0], 0)])
    return merged


def _batch_size(inputs):
    sizes = {v.shape[0] if v.ndim else 1 for v in inputs.values()}
    if len(sizes) != 1:
        raise errors.invalid(f"all inputs must share the batch dimension, got {sorted(sizes)}")
    return sizes.pop()


def _split(outputs, sizes, padded_rows=None):
    """Splits each output along B back into per-task pieces (padding rows dropped)."""
    total = sum(sizes)
    bounds = np.cumsum(sizes)[:-1]
    per_task = [dict() for _ in sizes]
    for alias, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != (padded_rows or total):
            raise errors.ServingError(
                    "INTERNAL", f"batched output {alias!r} has shape {list(value.shape)}; "
                    f"batching needs outputs whose first dimension is the batch "
                    f"({padded_rows or total})")
        value = value[:total]
        for piece, target in zip(np.split(value, bounds), per_task):
            target[alias] = piece
    return per_task
