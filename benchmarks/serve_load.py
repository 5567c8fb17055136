"""Load benchmark of keras-llm-serve: 1, 8, 32 concurrent gRPC clients, with and
without server-side batching, against the in-process SavedModel call as the floor.

    flock /tmp/bench.lock python -m benchmarks.serve_load      # saved_models/sentiment/2
    python -m benchmarks.serve_load --model_dir=PATH/TO/MODEL/<version> --duration=4

Each client sends one sentence per Predict request (signature serving_default,
string input --input_name) back to back. Clients run in --client_processes separate
processes (grpc.aio coroutines inside each, one gRPC channel per client, loopback only), so the
load generator does not share a GIL with the measuring process; the client processes
import grpc only (requests are pre-serialized bytes). Every (mode, clients) cell runs
--repeats times for --duration seconds (and at most --max_requests per client);
medians are reported. The in-process call is measured in this process between the
1-client runs (the floor), and at batch 1 and batch max_batch_size (the most that
batching can gain on this model and machine). Writes
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
import multiprocessing  # noqa: E402
import pathlib  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import grpc  # noqa: E402
import numpy as np  # noqa: E402
from keras_llm.utils.machine import machine_info

if __name__ != "__mp_main__" and multiprocessing.parent_process() is None:
    # TensorFlow only in the measuring process: spawned client processes stay light (they
    # import this module too, also when another benchmark's main module spawned them).
    import keras_llm  # noqa: F401
    import tensorflow as tf
else:
    tf = None
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"

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


def _heavy_module_class():
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

        return HeavyModule


def write_stand_in_model(path):
    module = _heavy_module_class()()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir, name, workdir, batching, batching_params, grpc_max_threads,
                 extra_flags=()):
    base, version = pathlib.Path(model_dir).resolve().parent, int(pathlib.Path(model_dir).name)
    config = workdir / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "{name}" base_path: "{base}" '
                      f'model_platform: "tensorflow" model_version_policy {{ specific {{ '
                      f'versions: {version} }} }} }} }}\n')
    grpc_port, rest_port = _free_port(), _free_port()
    cmd = [sys.executable, "-m", "keras_llm.serving.main", f"--port={grpc_port}",
           f"--rest_api_port={rest_port}", f"--model_config_file={config}",
           "--file_system_poll_wait_seconds=0", f"--grpc_max_threads={grpc_max_threads}",
           *extra_flags]
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
    """Serialized PredictRequests, one sentence each (client processes send bytes)."""
    from tensorflow_serving.apis import predict_pb2
    requests = []
    for sentence in SENTENCES:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = name
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto([sentence.encode()]))
        requests.append(request.SerializeToString())
    return requests


async def _client(address, request, gate, out, method=PREDICT_METHOD):
    """One closed-loop client with its own channel: send, wait for the answer, repeat."""
    channel = grpc.aio.insecure_channel(address)
    predict = channel.unary_unary(method)   # bytes in, bytes out
    try:
        await predict(request, timeout=60)          # connect, warm the channel
    finally:
        out["warm"] += 1
        await gate
    latencies, errors = [], 0
    while time.monotonic() < out["stop_at"] and len(latencies) + errors < out["max_requests"]:
        t0 = time.perf_counter()
        try:
            if await predict(request, timeout=60):
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1
        except grpc.RpcError:
            errors += 1
    out["latencies"].extend(latencies)
    out["errors"] += errors
    await channel.close()


def client_process(address, requests, first_client, clients, duration, max_requests, barrier,
                   results, method=PREDICT_METHOD):
    """One load-generator process: `clients` closed-loop clients as coroutines on one
    grpc.aio event loop (a client costs ~0.2 ms of CPU per request, against ~1.5 ms for a
    thread per client with the blocking stub: on 2 cores the load generator must not
    starve the server it measures)."""
    import asyncio

    async def run():
        out = {"latencies": [], "errors": 0, "stop_at": 0.0, "max_requests": max_requests,
               "warm": 0}
        gate = asyncio.get_running_loop().create_future()
        tasks = [asyncio.create_task(_client(address, requests[(first_client + i) %
                                                                len(requests)], gate, out,
                                               method))
                 for i in range(clients)]
        while out["warm"] < clients:         # every channel of this process connected
            await asyncio.sleep(0.05)
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait, 300)
        start = time.monotonic()            # CLOCK_MONOTONIC: comparable across processes
        out["stop_at"] = start + duration
        cpu0 = time.process_time()
        gate.set_result(None)
        await asyncio.gather(*tasks)
        return (start, time.monotonic(), out["latencies"], out["errors"],
                time.process_time() - cpu0)

    results.put(asyncio.run(run()))


def _result(results, procs, deadline):
    import queue
    while time.monotonic() < deadline:
        try:
            return results.get(timeout=1)
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise RuntimeError("a client process failed") from None
    raise RuntimeError("client processes did not finish in time")


def run_load(address, requests, clients, duration, processes=4, max_requests=100_000,
             method=PREDICT_METHOD):
    """Returns (requests/s, latencies in seconds, error count) for `clients` closed-loop
    clients spread over up to `processes` spawned processes."""
    ctx = multiprocessing.get_context("spawn")
    processes = max(1, min(processes, clients))
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs, first = [], 0
    for share in shares:
        procs.append(ctx.Process(target=client_process, daemon=True, args=(
                address, requests, first, share, duration, max_requests, barrier, results,
                method)))
        first += share
    for p in procs:
        p.start()
    try:
        reports = [_result(results, procs, time.monotonic() + 300 + duration) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    elapsed = max(r[1] for r in reports) - min(r[0] for r in reports)
    latencies = [t for r in reports for t in r[2]]
    return (len(latencies) / elapsed, latencies, sum(r[3] for r in reports),
            sum(r[4] for r in reports))


def process_cpu_seconds(pid):
    """User + system CPU seconds of a process (all its threads) from /proc."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds():
    """CPU seconds (all cores) the machine spent busy since boot, from /proc/stat."""
    ticks = [int(x) for x in pathlib.Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def measured_load(proc, address, requests, clients, args):
    """run_load plus CPU accounting: (req/s, latencies, errors, cpu dict). Server CPU is
    counted from just before the client processes start to just after they end (it idles
    while they spawn), client CPU inside the timed window only."""
    server0, busy0, wall0 = process_cpu_seconds(proc.pid), machine_busy_seconds(), time.monotonic()
    rps, latencies, errors, client_cpu = run_load(address, requests, clients, args.duration,
                                                  args.client_processes, args.max_requests)
    server_cpu = process_cpu_seconds(proc.pid) - server0
    busy, wall = machine_busy_seconds() - busy0, time.monotonic() - wall0
    n = max(len(latencies), 1)
    return rps, latencies, errors, {"server_cpu_ms_per_request": 1000 * server_cpu / n,
                                    "client_cpu_ms_per_request": 1000 * client_cpu / n,
                                    "machine_busy_cores": busy / wall}


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

    def batch_gain(self, batch, repeats, seconds=2.0):
        """Rows/s of back-to-back calls at batch 1 and at `batch` (alternated, medians):
        what batching could gain at best, with no server in between."""
        feeds = {1: self.feeds[0], batch: tf.constant((SENTENCES * batch)[:batch])}
        rates, cpu = {1: [], batch: []}, {1: [], batch: []}
        for _ in range(repeats):
            for size, feed in feeds.items():
                self.fn(**{self.input_name: feed})
                calls, stop = 0, time.monotonic() + seconds
                t0, cpu0 = time.monotonic(), time.process_time()
                while time.monotonic() < stop:
                    self.fn(**{self.input_name: feed})
                    calls += 1
                rates[size].append(calls * size / (time.monotonic() - t0))
                cpu[size].append((time.process_time() - cpu0) / (calls * size))
        one, many = statistics.median(rates[1]), statistics.median(rates[batch])
        return {"rows_per_s_batch_1": round(one, 1), f"rows_per_s_batch_{batch}": round(many, 1),
                "ratio": round(many / one, 2),
                "cpu_ms_per_row_batch_1": round(1000 * statistics.median(cpu[1]), 3),
                f"cpu_ms_per_row_batch_{batch}": round(1000 * statistics.median(cpu[batch]), 3)}


def thread_flags(args):
    """keras-llm-serve's (and tensorflow_model_server's) TensorFlow thread flags; both
    servers and the in-process floor get the same ones."""
    return [f"--tensorflow_{kind}_op_parallelism="
            f"{getattr(args, f'tensorflow_{kind}_op_parallelism')}" for kind in ("intra", "inter")]


def batching_text(args):
    return BATCHING % (args.batch_timeout_micros, args.num_batch_threads)


def _ms(seconds):
    return round(float(seconds) * 1000, 3)


def _cell(batching, clients, runs):
    return {"batching": batching, "clients": clients,
            "rps": round(statistics.median(r[0] for r in runs), 1),
            "p50_ms": statistics.median(_ms(np.percentile(r[1], 50)) for r in runs),
            "p99_ms": statistics.median(_ms(np.percentile(r[1], 99)) for r in runs),
            "errors": sum(r[2] for r in runs),
            "requests": sum(len(r[1]) for r in runs),
            "rps_runs": [round(r[0], 1) for r in runs],
            **{key: round(statistics.median(r[3][key] for r in runs), 3) for key in runs[0][3]}}


def bench_modes(args, name, workdir, floor, floors):
    """Both servers up at once; each repeat runs no-batching then batching back to back,
    so the ratio compares runs seconds apart under the same machine load."""
    servers = {}
    try:
        for batching in (False, True):
            servers[batching] = start_server(args.model_dir, name, workdir, batching,
                                             batching_text(args), args.grpc_max_threads,
                                             thread_flags(args))
        requests = make_requests(name, args.input_name)
        cells = []
        for clients in args.clients:
            runs = {False: [], True: []}
            for _ in range(args.repeats):
                if clients == 1:   # the floor, side by side with the 1-client runs
                    floors.append(floor.measure())
                for batching, (proc, address, _) in servers.items():
                    runs[batching].append(measured_load(proc, address, requests, clients, args))
            for batching in (False, True):
                cells.append(_cell(batching, clients, runs[batching]))
                print(json.dumps(cells[-1]), flush=True)
    finally:
        codes = {str(b): stop_server(proc) for b, (proc, _, _) in servers.items()}
    cells.sort(key=lambda c: (c["batching"], c["clients"]))
    return cells, {str(b): cmd for b, (_, _, cmd) in servers.items()}, codes


def main(argv=None):
    default_model = ROOT / "saved_models" / "sentiment" / "2"
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
    parser.add_argument("--num_batch_threads", type=int, default=2,
                        help="batches run at once (TF Serving's default: one per core)")
    parser.add_argument("--grpc_max_threads", type=int, default=32,
                        help="server worker threads (unbatched model calls run on them); "
                             "default: keras-llm-serve's own default")
    parser.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0,
                        help="passed to both servers and used in this process "
                             "(0 = auto, TF Serving's default)")
    parser.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0,
                        help="as --tensorflow_intra_op_parallelism")
    parser.add_argument("--client_processes", type=int, default=2,
                        help="load-generator processes (clients are split over them)")
    parser.add_argument("--max_requests", type=int, default=100_000,
                        help="cap on requests per client per run")
    parser.add_argument("--output_prefix", default=str(ROOT / "benchmarks/results/serve_load"))
    args = parser.parse_args(argv)
    if args.stand_in:
        args.model_dir = write_stand_in_model(
                str(pathlib.Path(tempfile.mkdtemp(prefix="stand-in-")) / "bert_like" / "1"))
    if not args.model_dir:
        parser.error("saved_models/sentiment/2 does not exist: pass --model_dir or --stand_in")
    args.clients = [int(c) for c in args.clients.split(",")]
    name = args.model_name or pathlib.Path(args.model_dir).resolve().parent.name
    load_before = round(os.getloadavg()[0], 2)
    if args.tensorflow_intra_op_parallelism > 0:
        tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
    if args.tensorflow_inter_op_parallelism > 0:
        tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)
    floor, floors = InProcess(args.model_dir, args.input_name), []
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="serve-load-"))
    ceiling = floor.batch_gain(32, args.repeats)
    print(f"in-process rows/s at batch 1 vs 32: {ceiling}", flush=True)
    cells, commands, exit_codes = bench_modes(args, name, workdir, floor, floors)
    floors = floors or [floor.measure()]   # --clients without 1
    floor_p50 = statistics.median(f[0] for f in floors)
    floor_p99 = statistics.median(f[1] for f in floors)
    print(f"in-process call (interleaved with the 1-client runs): p50 {floor_p50} ms, "
          f"p99 {floor_p99} ms", flush=True)
    report = summarize(args, name, cells, floor_p50, floor_p99, commands, exit_codes)
    report["in_process"]["batch_gain"] = ceiling
    report["machine"]["load_average_1m_at_start"] = load_before
    write_report(report, args.output_prefix)
    return 0


def summarize(args, name, cells, floor_p50, floor_p99, commands, exit_codes):
    get = lambda b, c: next((x for x in cells if x["batching"] == b and x["clients"] == c), None)
    top = max(args.clients)
    plain, batched, one = get(False, top), get(True, top), get(False, min(args.clients))
    speedup = round(batched["rps"] / plain["rps"], 2)
    # Runs alternate (no batching, then batching) within a repeat: ratios of paired runs.
    per_repeat = sorted(round(b / p, 2) for b, p in zip(batched["rps_runs"], plain["rps_runs"]))
    per_repeat_median = round(statistics.median(per_repeat), 2)
    gap = round(one["p50_ms"] - floor_p50, 3)
    program = ([sys.executable, "-m", __spec__.name] if __spec__ and __spec__.name
               else [sys.executable]) + sys.argv[(1 if __spec__ and __spec__.name else 0):]
    return {"command": " ".join(program),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(load_average_1m=round(os.getloadavg()[0], 2)),
            "model_dir": str(pathlib.Path(args.model_dir).resolve()),
            "model_name": name, "duration_s": args.duration, "repeats": args.repeats,
            "client_processes": args.client_processes,
            "batching_parameters": batching_text(args),
            "tensorflow_threads": {kind: getattr(args, f"tensorflow_{kind}_op_parallelism")
                                   or "auto" for kind in ("intra", "inter")},
            "server_commands": commands, "server_exit_codes": exit_codes,
            "in_process": {"p50_ms": floor_p50, "p99_ms": floor_p99}, "cells": cells,
            "cpu_budget": _cpu_budget(plain, batched),
            "goals": {f"batching_speedup_at_{top}_clients": speedup,
                      "batching_speedup_per_repeat": per_repeat,
                      "batching_speedup_per_repeat_median": per_repeat_median,
                      "batching_speedup_goal_met": min(speedup, per_repeat_median) >= 3.0,
                      "p50_gap_at_1_client_ms": gap, "p50_gap_goal_met": gap <= 2.0,
                      "total_errors": sum(c["errors"] for c in cells)}}


def _cpu_budget(plain, batched):
    """What the 3x goal asks of the CPU: with every core busy, req/s = cores / CPU ms per
    request (server + clients, both on this machine)."""
    cores = os.cpu_count()
    per_request = batched["server_cpu_ms_per_request"] + batched["client_cpu_ms_per_request"]
    return {"cores": cores,
            "batched_cpu_ms_per_request": round(per_request, 3),
            "batched_rps_if_all_cores_busy": round(1000 * cores / per_request, 1),
            "cpu_ms_per_request_needed_for_3x": round(1000 * cores / (3 * plain["rps"]), 3)}


def write_report(report, prefix):
    g = report["goals"]
    lines = [f"# keras-llm-serve load benchmark ({report['model_name']})", "",
             f"- Command: `{report['command']}`", f"- Date (UTC): {report['date_utc']}",
             f"- Machine: {report['machine']}", f"- Model: `{report['model_dir']}`",
             f"- {report['repeats']} runs x {report['duration_s']} s per cell, medians; gRPC; "
             "1 sentence per request; no-batching and batching servers up together, their "
             "runs alternated",
             f"- TensorFlow op threads (both servers and the in-process call): "
             f"{report.get('tensorflow_threads')}",
             f"- Load generators: {report['client_processes']} spawned client processes "
             "(clients split over them as grpc.aio coroutines, one channel per client), "
             "loopback", "",
             f"In-process SavedModel call (measured in this process between the 1-client "
             f"runs, median of {report['repeats']}): p50 {report['in_process']['p50_ms']} ms, "
             f"p99 {report['in_process']['p99_ms']} ms", "",
             f"In-process rows/s, batch 1 vs batch 32 back to back (the most batching can "
             f"gain here): {report['in_process'].get('batch_gain')}", "",
             "| batching | clients | req/s | p50 ms | p99 ms | errors | server CPU ms/req | "
             "client CPU ms/req | machine busy (cores) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in report["cells"]:
        lines.append(f"| {'yes' if c['batching'] else 'no'} | {c['clients']} | {c['rps']} | "
                     f"{c['p50_ms']} | {c['p99_ms']} | {c['errors']} | "
                     f"{c['server_cpu_ms_per_request']} | {c['client_cpu_ms_per_request']} | "
                     f"{c['machine_busy_cores']} |")
    speed_key = next(k for k in g if k.startswith("batching_speedup_at"))
    lines += ["", f"- Batching speed-up ({speed_key}, ratio of medians): {g[speed_key]}x; "
              f"median of per-repeat ratios: {g['batching_speedup_per_repeat_median']}x "
              f"(per repeat, sorted: {g['batching_speedup_per_repeat']}) "
              f"(goal >= 3x by both: {'met' if g['batching_speedup_goal_met'] else 'NOT met'})",
              f"- p50 at 1 client minus in-process p50: {g['p50_gap_at_1_client_ms']} ms "
              f"(goal <= 2 ms: {'met' if g['p50_gap_goal_met'] else 'NOT met'})",
              f"- CPU budget at {max(c['clients'] for c in report['cells'])} clients with "
              f"batching: {report['cpu_budget']} (server CPU per request includes the model; "
              f"the in-process model alone: {report['in_process'].get('batch_gain')})",
              f"- Errors: {g['total_errors']}; server exit codes after SIGTERM: "
              f"{report['server_exit_codes']}", "",
              "Batching parameters:", "```", report["batching_parameters"].strip(), "```"]
    save_report(report, lines, prefix)


def save_report(report, lines, prefix):
    """Writes PREFIX.json (the report) and PREFIX.md (the lines), and prints the lines."""
    pathlib.Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    with open(prefix + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(prefix + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
