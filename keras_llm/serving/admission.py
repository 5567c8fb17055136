"""Bounds on what requests may cost: admission control and row chunking.

Memory must follow the server's configuration, not what a client sends, so:
- `Admission` counts the rows and bytes of every request in flight (gRPC and REST alike)
  and refuses, with RESOURCE_EXHAUSTED, a request that would pass a bound: REST answers
  413 when the request alone is over a limit (it can never be served as sent) and 429 when
  the server is busy (the same request may pass later).
- `run_in_chunks` sends a request of many rows through the model in model calls of at most
  `chunk_rows` rows (the batch size B of a call), so a 20,000-row request never becomes one
  20,000 x T tensor; outputs are concatenated back along B.

Shapes: B batch (first dimension of every input and output), R rows of a whole request.
"""
import contextlib
import dataclasses
import threading
import time

import numpy as np

from keras_llm.serving import errors

RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
TOO_LARGE_HTTP = 413     # the request alone is over a limit: split it
BUSY_HTTP = 429          # requests in flight leave no room now: retry later


@dataclasses.dataclass(frozen=True)
class Limits:
    """The flags of the same names (defaults sized for a few GiB of headroom)."""
    max_rows_per_request: int = 4096
    max_rows_in_flight: int = 16384
    max_bytes_in_flight: int = 256 << 20
    max_rows_per_model_call: int = 64

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"--{field.name} must be a positive integer, got {value!r}")


def too_large(message):
    return errors.ServingError(RESOURCE_EXHAUSTED, message, http_status=TOO_LARGE_HTTP)


def busy(message):
    return errors.ServingError(RESOURCE_EXHAUSTED, message, http_status=BUSY_HTTP)


class Admission:
    """Counts rows and bytes in flight; `admit` holds a share of them for one request."""

    def __init__(self, limits):
        self.limits = limits
        self._lock = threading.Lock()
        self.rows = 0
        self.bytes = 0

    @contextlib.contextmanager
    def admit(self, rows=0, nbytes=0):
        """Holds `rows` and `nbytes` until the block ends; raises RESOURCE_EXHAUSTED
        (naming the limit and its flag) when they do not fit."""
        self._check_request(rows, nbytes)
        with self._lock:
            self._check_room(rows, nbytes)
            self.rows += rows
            self.bytes += nbytes
        try:
            yield
        finally:
            with self._lock:
                self.rows -= rows
                self.bytes -= nbytes

    def _check_request(self, rows, nbytes):
        limits = self.limits
        if rows > limits.max_rows_per_request:
            raise too_large(f"Request has {rows} rows, more than the limit of "
                            f"{limits.max_rows_per_request} rows per request "
                            f"(--max_rows_per_request); split it into smaller requests")
        if rows > limits.max_rows_in_flight:
            raise too_large(f"Request has {rows} rows, more than the limit of "
                            f"{limits.max_rows_in_flight} rows in flight "
                            f"(--max_rows_in_flight); split it into smaller requests")
        if nbytes > limits.max_bytes_in_flight:
            raise too_large(f"Request of {nbytes} bytes is larger than the limit of "
                            f"{limits.max_bytes_in_flight} bytes in flight "
                            f"(--max_bytes_in_flight); split it into smaller requests")

    def _check_room(self, rows, nbytes):
        """Called under the lock."""
        limits = self.limits
        if rows and self.rows + rows > limits.max_rows_in_flight:
            raise busy(f"Server busy: {self.rows} rows in flight plus this request's {rows} "
                       f"exceed the limit of {limits.max_rows_in_flight} "
                       f"(--max_rows_in_flight); retry later")
        if nbytes and self.bytes + nbytes > limits.max_bytes_in_flight:
            raise busy(f"Server busy: {self.bytes} request bytes in flight plus this "
                       f"request's {nbytes} exceed the limit of "
                       f"{limits.max_bytes_in_flight} (--max_bytes_in_flight); retry later")


def request_rows(inputs):
    """R of alias -> array inputs: the largest first dimension (1 if every input is 0-d)."""
    return max((v.shape[0] for v in inputs.values() if np.ndim(v)), default=1)


def _slices(inputs, rows, chunk_rows):
    """Yields (start, inputs of rows [start, start + chunk_rows)); 0-d inputs go whole."""
    for start in range(0, rows, chunk_rows):
        stop = start + chunk_rows
        yield start, {alias: (v[start:stop] if np.ndim(v) else v)
                      for alias, v in inputs.items()}


def _remaining(deadline, done, rows):
    """Seconds left before `deadline` (None = no deadline); DEADLINE_EXCEEDED if none."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise errors.ServingError("DEADLINE_EXCEEDED",
                                  f"Deadline exceeded after {done} of {rows} rows")
    return left


def _concat(parts, rows, chunk_rows):
    """alias -> array: every part's outputs joined along B (all must be batched by B)."""
    out = {}
    for alias in parts[0]:
        pieces = [p[alias] for p in parts]
        if any(np.ndim(x) == 0 for x in pieces) or sum(len(x) for x in pieces) != rows:
            raise errors.invalid(
                    f"output {alias!r} is not batched along the first dimension, so a "
                    f"request of {rows} rows cannot be split into model calls of "
                    f"{chunk_rows}; send at most {chunk_rows} rows per request")
        if len({x.shape[1:] for x in pieces}) > 1:
            raise errors.invalid(
                    f"output {alias!r} has a shape that varies between model calls "
                    f"({sorted({tuple(x.shape) for x in pieces})}); send at most "
                    f"{chunk_rows} rows per request")
        out[alias] = np.concatenate(pieces)
    return out


def run_in_chunks(run, inputs, chunk_rows, timeout=None):
    """`run(inputs, timeout) -> alias -> array` over model calls of <= chunk_rows rows;
    a request that fits in one call runs exactly as sent."""
    rows = request_rows(inputs)
    if rows <= chunk_rows:
        return run(inputs, timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    parts = [run(part, _remaining(deadline, start, rows))
             for start, part in _slices(inputs, rows, chunk_rows)]
    return _concat(parts, rows, chunk_rows)


async def run_in_chunks_async(run, inputs, chunk_rows, timeout=None):
    """`run_in_chunks` for an awaitable `run(inputs, timeout)`."""
    rows = request_rows(inputs)
    if rows <= chunk_rows:
        return await run(inputs, timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    parts = []
    for start, part in _slices(inputs, rows, chunk_rows):
        parts.append(await run(part, _remaining(deadline, start, rows)))
    return _concat(parts, rows, chunk_rows)
