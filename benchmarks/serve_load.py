"""Load benchmark of keras-llm-serve: 1, 8, 32 concurrent gRPC clients, with and
without server-side batching, against the in-process SavedModel call as the floor.

    python benchmarks/serve_load.py                       # saved_models/sentiment/1
    python benchmarks/serve_load.py --model_dir=PATH/TO/MODEL/<version> --duration=4

Each client sends one sentence per Predict request (signature serving_default,
string input --input_name) back to back. Every (mode, clients) cell runs --repeats
times for --duration seconds; medians are reported. Writes
benchmarks/results/serve_load.json and .md (or --output_prefix).
Goals (from the serving issue): batching at 32 clients >= 3x the req/s of no batching;
p50 at 1 client within 2 ms of the in-process call.
"""
import os
import sys

# Running `python benchmarks/serve_load.py` puts benchmarks/ first on sys.path, where a
# file named like a stdlib module (e.g. tokenize.py) would shadow it: drop that entry.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras_llm  # noqa: E402,F401

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402
from tensorflow_serving.apis import prediction_service_pb2_grpc  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SENTENCES = ["a wonderful, moving film with a great cast",
             "dull plot, wooden acting, a waste of two hours",
             "it was fine, nothing special but not bad either",
             "the best thing i have seen all year",
             "i walked out after twenty minutes",
             "good performances cannot save a weak script",
             "charming, funny and surprisingly deep",
             "a mess from start to finish"]
BATCHING = """max_batch_size { value: 32 }
batch_timeout_micros { value: %d }
max_enqueued_batches { value: 1000 }
num_batch_threads { value: %d }
"""


class HeavyModule(tf.Module):
    """A stand-in for a small BERT classifier (hashing 'tokenizer', 4 attention blocks,
    D=64, T=32) so batching has per-call work to amortize: text [B] -> label, probabilities."""

    def __init__(self, blocks=4, width=64, length=32, buckets=2000, seed=0):
        super().__init__()
        rng = tf.random.Generator.from_seed(seed)
        init = lambda *shape: tf.Variable(rng.normal(shape) * 0.1)
        self.length, self.buckets = length, buckets
        self.embedding = init(buckets, width)
        self.blocks = [(init(width, 3 * width), init(width, width), init(width, 4 * width),
                        init(4 * width, width)) for _ in range(blocks)]
        self.head = init(width, 2)
        self.names = tf.constant(["negative", "positive"])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        words = tf.strings.split(tf.strings.lower(text))
        ids = tf.strings.to_hash_bucket_fast(words, self.buckets)
        ids = ids.to_tensor(shape=[None, self.length])                       # (B, T)
        x = tf.gather(self.embedding, ids)                                    # (B, T, D)
        for qkv_w, out_w, up_w, down_w in self.blocks:
            q, k, v = tf.split(tf.einsum("btd,de->bte", x, qkv_w), 3, axis=-1)
            attention = tf.nn.softmax(tf.einsum("bqd,bkd->bqk", q, k) / 8.0)  # (B, T, T)
            x = _norm(x + tf.einsum("bte,ed->btd", tf.einsum("bqk,bkd->bqd", attention, v),
                                    out_w))
            x = _norm(x + tf.einsum("btf,fd->btd",
                                    tf.nn.gelu(tf.einsum("btd,df->btf", x, up_w)), down_w))
        logits = tf.reduce_mean(x, axis=1) @ self.head                        # (B, 2)
        probabilities = tf.nn.softmax(logits)
        return {"label": tf.gather(self.names, tf.argmax(logits, axis=1)),
                "probabilities": probabilities}


def _norm(x):
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + 1e-6)


def write_stand_in_model(path):
    module = HeavyModule()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir, name, workdir, batching, batching_params):
    base, version = pathlib.Path(model_dir).resolve().parent, int(pathlib.Path(model_dir).name)
    config = workdir / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "{name}" base_path: "{base}" '
                      f'model_platform: "tensorflow" model_version_policy {{ specific {{ '
                      f'versions: {version} }} }} }} }}\n')
    grpc_port, rest_port = _free_port(), _free_port()
    cmd = [sys.executable, "-m", "keras_llm.serving.main", f"--port={grpc_port}",
           f"--rest_api_port={rest_port}", f"--model_config_file={config}",
           "--file_system_poll_wait_seconds=0"]
    if batching:
        (workdir / "batching.config").write_text(batching_params)
        cmd += ["--enable_batching", f"--batching_parameters_file={workdir / 'batching.config'}"]
    log = open(workdir / f"server-{'batching' if batching else 'plain'}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: see {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/healthz", timeout=2) as r:
                if json.loads(r.read())["models"].get(name):
                    return proc, f"127.0.0.1:{grpc_port}", " ".join(cmd)
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not become AVAILABLE")


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=120)


def make_requests(name, input_name):
    requests = []
    for sentence in SENTENCES:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto([sentence.encode()]))
        requests.append(request)
    return requests


def run_load(address, requests, clients, duration):
    """Returns (requests/s, latencies in seconds, error count) for `clients` threads."""
    stubs = [prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address))
             for _ in range(clients)]
    for stub in stubs:   # connect and warm every channel first
        stub.Predict(requests[0], timeout=60)
    latencies, errors, lock = [], [0], threading.Lock()
    start_gate, stop_at = threading.Barrier(clients + 1), [0.0]

    def client(i):
        mine, stub = [], stubs[i]
        start_gate.wait()
        k = i
        while time.monotonic() < stop_at[0]:
            t0 = time.perf_counter()
            try:
                stub.Predict(requests[k % len(requests)], timeout=60)
                mine.append(time.perf_counter() - t0)
            except grpc.RpcError:
                with lock:
                    errors[0] += 1
            k += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + duration
    t_start = time.monotonic()
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t_start
    return len(latencies) / elapsed, latencies, errors[0]


class InProcess:
    """The SavedModel signature called in this process: the latency floor."""

    def __init__(self, model_dir, input_name):
        self.fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
        self.input_name = input_name
        self.feeds = [tf.constant([s]) for s in SENTENCES]
        for feed in self.feeds * 3:
            self.fn(**{input_name: feed})

    def measure(self, calls=150):
        """(p50 ms, p99 ms) of `calls` back-to-back calls."""
        times = []
        for i in range(calls):
            t0 = time.perf_counter()
            self.fn(**{self.input_name: self.feeds[i % len(self.feeds)]})
            times.append(time.perf_counter() - t0)
        return _ms(np.percentile(times, 50)), _ms(np.percentile(times, 99))


def batching_text(args):
    return BATCHING % (args.batch_timeout_micros, args.num_batch_threads)


def _ms(seconds):
    return round(float(seconds) * 1000, 3)


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "cpu": cpu,
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "load_average_1m": round(os.getloadavg()[0], 2)}


def bench_mode(args, name, batching, workdir, floor=None, floors=None):
    proc, address, cmd = start_server(args.model_dir, name, workdir, batching,
                                      batching_text(args))
    cells = []
    try:
        requests = make_requests(name, args.input_name)
        for clients in args.clients:
            runs = []
            for _ in range(args.repeats):
                if floor is not None and clients == 1:   # side by side with the server
                    floors.append(floor.measure())
                runs.append(run_load(address, requests, clients, args.duration))
            cell = {"batching": batching, "clients": clients,
                    "rps": round(statistics.median(r[0] for r in runs), 1),
                    "p50_ms": statistics.median(_ms(np.percentile(r[1], 50)) for r in runs),
                    "p99_ms": statistics.median(_ms(np.percentile(r[1], 99)) for r in runs),
                    "errors": sum(r[2] for r in runs),
                    "requests": sum(len(r[1]) for r in runs),
                    "rps_runs": [round(r[0], 1) for r in runs]}
            print(json.dumps(cell), flush=True)
            cells.append(cell)
    finally:
        code = stop_server(proc)
    return cells, cmd, code


def main(argv=None):
    default_model = ROOT / "saved_models" / "sentiment" / "1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default=str(default_model) if default_model.is_dir()
                        else None, help="a SavedModel version folder BASE/NAME/<version>")
    parser.add_argument("--stand_in", action="store_true",
                        help="build and use a small BERT-like stand-in model (no real weights)")
    parser.add_argument("--model_name", default=None, help="default: the folder's parent name")
    parser.add_argument("--input_name", default="text")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch_timeout_micros", type=int, default=2000)
    parser.add_argument("--num_batch_threads", type=int, default=1,
                        help="1 leaves both cores to TF's intra-op threads inside one batch")
    parser.add_argument("--output_prefix", default=str(ROOT / "benchmarks/results/serve_load"))
    args = parser.parse_args(argv)
    if args.stand_in:
        args.model_dir = write_stand_in_model(
                str(pathlib.Path(tempfile.mkdtemp(prefix="stand-in-")) / "bert_like" / "1"))
    if not args.model_dir:
        parser.error("saved_models/sentiment/1 does not exist: pass --model_dir or --stand_in")
    args.clients = [int(c) for c in args.clients.split(",")]
    name = args.model_name or pathlib.Path(args.model_dir).resolve().parent.name
    load_before = round(os.getloadavg()[0], 2)
    floor, floors = InProcess(args.model_dir, args.input_name), []
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="serve-load-"))
    cells, exit_codes, commands = [], {}, {}
    for batching in (False, True):
        mode_cells, commands[str(batching)], exit_codes[str(batching)] = bench_mode(
                args, name, batching, workdir, None if batching else floor, floors)
        cells += mode_cells
    floors = floors or [floor.measure()]   # --clients without 1
    floor_p50 = statistics.median(f[0] for f in floors)
    floor_p99 = statistics.median(f[1] for f in floors)
    print(f"in-process call (interleaved with the 1-client runs): p50 {floor_p50} ms, "
          f"p99 {floor_p99} ms", flush=True)
    report = summarize(args, name, cells, floor_p50, floor_p99, commands, exit_codes)
    report["machine"]["load_average_1m_at_start"] = load_before
    write_report(report, args.output_prefix)
    return 0


def summarize(args, name, cells, floor_p50, floor_p99, commands, exit_codes):
    get = lambda b, c: next((x for x in cells if x["batching"] == b and x["clients"] == c), None)
    top = max(args.clients)
    plain, batched, one = get(False, top), get(True, top), get(False, min(args.clients))
    speedup = round(batched["rps"] / plain["rps"], 2)
    gap = round(one["p50_ms"] - floor_p50, 3)
    return {"command": " ".join([sys.executable] + sys.argv),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(), "model_dir": str(pathlib.Path(args.model_dir).resolve()),
            "model_name": name, "duration_s": args.duration, "repeats": args.repeats,
            "batching_parameters": batching_text(args),
            "server_commands": commands, "server_exit_codes": exit_codes,
            "in_process": {"p50_ms": floor_p50, "p99_ms": floor_p99}, "cells": cells,
            "goals": {f"batching_speedup_at_{top}_clients": speedup,
                      "batching_speedup_goal_met": speedup >= 3.0,
                      "p50_gap_at_1_client_ms": gap, "p50_gap_goal_met": gap <= 2.0,
                      "total_errors": sum(c["errors"] for c in cells)}}


def write_report(report, prefix):
    pathlib.Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    with open(prefix + ".json", "w") as f:
        json.dump(report, f, indent=2)
    g = report["goals"]
    lines = [f"# keras-llm-serve load benchmark ({report['model_name']})", "",
             f"- Command: `{report['command']}`", f"- Date (UTC): {report['date_utc']}",
             f"- Machine: {report['machine']}", f"- Model: `{report['model_dir']}`",
             f"- {report['repeats']} runs x {report['duration_s']} s per cell, medians; gRPC; "
             "1 sentence per request", "",
             f"In-process SavedModel call (measured in this process between the 1-client "
             f"runs, median of {report['repeats']}): p50 {report['in_process']['p50_ms']} ms, "
             f"p99 {report['in_process']['p99_ms']} ms", "",
             "| batching | clients | req/s | p50 ms | p99 ms | errors |",
             "|---|---|---|---|---|---|"]
    for c in report["cells"]:
        lines.append(f"| {'yes' if c['batching'] else 'no'} | {c['clients']} | {c['rps']} | "
                     f"{c['p50_ms']} | {c['p99_ms']} | {c['errors']} |")
    speed_key = next(k for k in g if k.startswith("batching_speedup_at"))
    lines += ["", f"- Batching speed-up ({speed_key}): {g[speed_key]}x "
              f"(goal >= 3x: {'met' if g['batching_speedup_goal_met'] else 'NOT met'})",
              f"- p50 at 1 client minus in-process p50: {g['p50_gap_at_1_client_ms']} ms "
              f"(goal <= 2 ms: {'met' if g['p50_gap_goal_met'] else 'NOT met'})",
              f"- Errors: {g['total_errors']}; server exit codes after SIGTERM: "
              f"{report['server_exit_codes']}", "",
              "Batching parameters:", "```", report["batching_parameters"].strip(), "```"]
    with open(prefix + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
