"""Prometheus text metrics, named like TF Serving's (`:tensorflow:serving:*`).

request_count{model_name, API, entrypoint, status} and a request_latency histogram
in microseconds {model_name, API, entrypoint}.
"""
import bisect
import collections
import threading

# Microsecond bucket bounds: 100us .. ~100s, x2 per bucket beyond 100us.
_BOUNDS = tuple(100 * 2**i for i in range(21))


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._counts = collections.Counter()
        self._hist = {}

    def record(self, model, api, entrypoint, status, seconds):
        micros = seconds * 1e6
        with self._lock:
            self._counts[(model, api, entrypoint, status)] += 1
            key = (model, api, entrypoint)
            buckets, total = self._hist.get(key, ([0] * (len(_BOUNDS) + 1), 0.0))
            buckets[bisect.bisect_left(_BOUNDS, micros)] += 1
            self._hist[key] = (buckets, total + micros)

    def render(self):
        """The Prometheus text exposition format (version 0.0.4)."""
        lines = ["# TYPE :tensorflow:serving:request_count counter"]
        with self._lock:
            for (model, api, entry, status), n in sorted(self._counts.items()):
                lines.append(f':tensorflow:serving:request_count{{model_name="{model}",'
                             f'API="{api}",entrypoint="{entry}",status="{status}"}} {n}')
            lines.append("# TYPE :tensorflow:serving:request_latency histogram")
            for (model, api, entry), (buckets, total) in sorted(self._hist.items()):
                labels = f'model_name="{model}",API="{api}",entrypoint="{entry}"'
                running = 0
                for bound, n in zip(list(_BOUNDS) + ["+Inf"], buckets):
                    running += n
                    lines.append(f':tensorflow:serving:request_latency_bucket{{{labels},'
                                 f'le="{bound}"}} {running}')
                lines.append(f":tensorflow:serving:request_latency_sum{{{labels}}} {total}")
                lines.append(f":tensorflow:serving:request_latency_count{{{labels}}} {running}")
        return "\n".join(lines) + "\n"
