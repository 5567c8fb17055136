"""What Python gRPC alone costs on this machine: a bare grpc.aio server that answers every
Predict with a fixed PredictResponse (no model, no keras_llm code), under serve_load's own
load generator. The numbers bound what keras-llm-serve (also grpc.aio) can reach here.

    flock /tmp/bench.lock python -m benchmarks.grpc_floor

Modes of the bare grpc.aio server:
  immediate  answer at once;
  pause      await asyncio.sleep(--pause_ms) first (the event loop idles as it does while
             keras-llm-serve's model runs on another thread);
  executor   run time.sleep(--pause_ms) on a thread pool first (keras-llm-serve's path for
             an unbatched request).
and of a bare server on grpc's thread-pool API (the other way to serve gRPC from Python):
  sync_immediate, sync_pause  the same on a pool thread, time.sleep for the pause.
For each mode: p50 at 1 client minus the pause (transport + wake-ups), and at --clients
clients req/s and the server's CPU per request. Writes benchmarks/results/grpc_floor.json
and .md (or --output_prefix).
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import datetime  # noqa: E402
import multiprocessing  # noqa: E402
import statistics  # noqa: E402

from benchmarks import serve_load  # noqa: E402
from keras_llm.utils.machine import machine_info  # noqa: E402

AIO_MODES = ("immediate", "pause", "executor")
SYNC_MODES = ("sync_immediate", "sync_pause")
MODES = AIO_MODES + SYNC_MODES


def _answer():
    from tensorflow_serving.apis import predict_pb2
    response = predict_pb2.PredictResponse()
    response.model_spec.name = "bare"
    label = response.outputs["label"]
    label.dtype = 7                                   # DT_STRING
    label.tensor_shape.dim.add().size = 1
    label.string_val.append(b"positive")
    return response.SerializeToString()


def serve_sync(port, pause_s, ready):
    """The bare server on grpc's thread-pool (non-asyncio) API: the handler runs on a pool
    thread and blocks for the pause there."""
    import time
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import predict_pb2
    answer = _answer()

    def method(mode):
        def predict(request, context):
            predict_pb2.PredictRequest.FromString(request)
            if mode == "sync_pause":
                time.sleep(pause_s)
            return answer
        return grpc.unary_unary_rpc_method_handler(predict)
    server = grpc.server(futures.ThreadPoolExecutor(32))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            f"bare.{mode}", {"Predict": method(mode)}) for mode in SYNC_MODES])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    ready.set()
    server.wait_for_termination()


def serve(port, pause_s, ready):
    """The bare grpc.aio server (runs in its own process); `ready` is set once it listens."""
    import asyncio
    import time
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import predict_pb2
    answer = _answer()

    async def main():
        pool = futures.ThreadPoolExecutor(32)
        loop = asyncio.get_running_loop()

        def method(mode):
            async def predict(request, context):
                predict_pb2.PredictRequest.FromString(request)   # parse, as a server must
                if mode == "pause":
                    await asyncio.sleep(pause_s)
                elif mode == "executor":
                    await loop.run_in_executor(pool, time.sleep, pause_s)
                return answer
            return grpc.unary_unary_rpc_method_handler(predict)
        # One service per mode, so one server process answers all three.
        handlers = [grpc.method_handlers_generic_handler(f"bare.{mode}",
                                                         {"Predict": method(mode)})
                    for mode in AIO_MODES]
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(handlers)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready.set()
        await server.wait_for_termination()
    asyncio.run(main())


def actual_pause_ms(mode, pause_s, n=200):
    """Median wall time of the pause itself (timers overshoot: epoll rounds up to whole
    milliseconds), measured here the way the server pauses."""
    import asyncio
    import time
    if mode in ("immediate", "sync_immediate"):
        return 0.0
    times = []
    if mode == "pause":
        async def run():
            for _ in range(n):
                t0 = time.perf_counter()
                await asyncio.sleep(pause_s)
                times.append(time.perf_counter() - t0)
        asyncio.run(run())
    else:
        for _ in range(n):
            t0 = time.perf_counter()
            time.sleep(pause_s)
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause_ms", type=float, default=4.0,
                        help="stand-in for the model call (serve_load's in-process p50 is ~4 ms)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--client_processes", type=int, default=2)
    parser.add_argument("--output_prefix",
                        default=str(serve_load.ROOT / "benchmarks/results/grpc_floor"))
    args = parser.parse_args(argv)
    if args.pause_ms <= 0:
        parser.error(f"--pause_ms must be > 0, got {args.pause_ms}")
    ctx = multiprocessing.get_context("spawn")
    servers = {}
    for target, modes in ((serve, AIO_MODES), (serve_sync, SYNC_MODES)):
        ready = ctx.Event()
        port = serve_load._free_port()  # pylint: disable=protected-access
        proc = ctx.Process(target=target, args=(port, args.pause_ms / 1000, ready),
                           daemon=True)
        proc.start()
        if not ready.wait(120):
            raise RuntimeError(f"the bare gRPC server ({target.__name__}) did not start")
        for mode in modes:
            servers[mode] = (proc, f"127.0.0.1:{port}")
    request = serve_load.make_requests("bare", "text")[:1]
    results = {mode: {"p50_1_client_ms": [], "rps": [], "server_cpu_ms_per_request": []}
               for mode in MODES}
    try:
        for repeat in range(args.repeats + 1):        # repeat 0 warms up, not recorded
            for mode in MODES:
                proc, address = servers[mode]
                method = f"/bare.{mode}/Predict"
                _, latencies, errors, _ = serve_load.run_load(address, request, 1,
                                                              args.duration, 1, method=method)
                cpu0 = serve_load.process_cpu_seconds(proc.pid)
                rps, many, errors_many, _ = serve_load.run_load(
                        address, request, args.clients, args.duration, args.client_processes,
                        method=method)
                cpu = serve_load.process_cpu_seconds(proc.pid) - cpu0
                if errors or errors_many:
                    raise RuntimeError(f"{mode}: {errors + errors_many} failed requests")
                if repeat:
                    r = results[mode]
                    r["p50_1_client_ms"].append(1000 * statistics.median(latencies))
                    r["rps"].append(rps)
                    r["server_cpu_ms_per_request"].append(1000 * cpu / max(len(many), 1))
                    print(f"repeat {repeat} {mode}: p50 {r['p50_1_client_ms'][-1]:.3f} ms, "
                          f"{rps:.0f} req/s, {r['server_cpu_ms_per_request'][-1]:.3f} ms CPU/req",
                          flush=True)
    finally:
        for proc, _ in servers.values():
            proc.kill()
    pauses = {mode: actual_pause_ms(mode, args.pause_ms / 1000) for mode in MODES}
    report = summarize(args, results, pauses)
    write_report(report, args.output_prefix)
    return 0


def summarize(args, results, pauses):
    rows = []
    for mode, r in results.items():
        p50 = statistics.median(r["p50_1_client_ms"])
        rows.append({"mode": mode, "p50_1_client_ms": round(p50, 3),
                     "pause_measured_ms": round(pauses[mode], 3),
                     "p50_minus_pause_ms": round(p50 - pauses[mode], 3),
                     f"rps_{args.clients}_clients": round(statistics.median(r["rps"]), 1),
                     "server_cpu_ms_per_request": round(
                             statistics.median(r["server_cpu_ms_per_request"]), 3),
                     "p50_runs_ms": [round(x, 3) for x in r["p50_1_client_ms"]]})
    return {"command": " ".join([sys.executable, "-m", "benchmarks.grpc_floor"] + sys.argv[1:]),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"),
            "machine": machine_info(load_average_1m=round(os.getloadavg()[0], 2)),
            "pause_ms": args.pause_ms, "clients": args.clients, "repeats": args.repeats,
            "duration_s": args.duration, "rows": rows}


def write_report(report, prefix):
    clients = report["clients"]
    lines = ["# Python gRPC floor (bare grpc.aio server, no model)", "",
             f"- Command: `{report['command']}`", f"- Date (UTC): {report['date_utc']}",
             f"- Machine: {report['machine']}",
             f"- serve_load's load generator (grpc.aio clients in separate processes); "
             f"{report['repeats']} repeats x {report['duration_s']} s per cell, medians; "
             f"pause = {report['pause_ms']} ms", "",
             f"| mode | p50 at 1 client (ms) | pause as measured (ms) | p50 minus pause (ms) | "
             f"req/s at {clients} clients | server CPU ms/request at {clients} clients | "
             "p50 runs |",
             "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['mode']} | {r['p50_1_client_ms']} | {r['pause_measured_ms']} | "
                     f"{r['p50_minus_pause_ms']} | "
                     f"{r[f'rps_{clients}_clients']} | {r['server_cpu_ms_per_request']} | "
                     f"{r['p50_runs_ms']} |")
    lines += ["", "p50 minus pause is what a request pays beyond its work with no keras_llm "
              "code at all: compare serve_load's 'p50 at 1 client minus in-process p50'. "
              "The pause is timed in this process the way the server pauses (median of 200)."]
    serve_load.save_report(report, lines, prefix)


if __name__ == "__main__":
    sys.exit(main())
