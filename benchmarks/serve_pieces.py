"""Where a Predict request's time goes inside keras-llm-serve, in process, without gRPC:
each step of the Predict path timed alone on the sentiment model (median of --calls calls
per step, --repeats rounds, median of the rounds).

    flock /tmp/bench.lock python -m benchmarks.serve_pieces

Steps: parse the request bytes; resolve and hold the version (ModelManager.acquire); decode
the input TensorProtos; check inputs and output filter (Service._plan); the model call as the
server makes it (Signature.run: numpy -> tensors -> function -> numpy) next to the bare
function call on a ready tensor (serve_load's in-process floor); build the PredictResponse;
serialize it; and the whole Service.predict. Together with benchmarks/grpc_floor.py (the
transport alone) this splits serve_load's 1-client gap. Writes
benchmarks/results/serve_pieces.json and .md (or --output_prefix).
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import datetime  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras_llm  # noqa: E402,F401
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402

from benchmarks import serve_load  # noqa: E402
from keras_llm.serving import config as config_lib  # noqa: E402
from keras_llm.serving import manager as manager_lib  # noqa: E402
from keras_llm.serving import service as service_lib  # noqa: E402
from keras_llm.utils.machine import machine_info  # noqa: E402


FLOOR = "model call, bare function on a ready tensor, back to back (the floor)"


def time_call(fn, calls, idle=0.0):
    """Median seconds of fn() in microseconds; with `idle`, the process sleeps that long
    before each (untimed) call, as a server does between one client's requests."""
    fn()
    times = []
    for _ in range(calls):
        if idle:
            time.sleep(idle)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times)


def steps(base_path, name, input_name):
    models = manager_lib.ModelManager()
    models.set_config(config_lib.single_model_config(name, base_path))
    service = service_lib.Service(models)
    raw = serve_load.make_requests(name, input_name)[0]
    request = predict_pb2.PredictRequest.FromString(raw)
    plan = service._plan                          # pylint: disable=protected-access
    respond = service_lib._predict_response      # pylint: disable=protected-access
    with models.acquire(name) as entry:
        signature = entry.loaded.signature("", "predict")
        inputs = service_lib.decode_inputs(signature, request.inputs)
        ready = {input_name: tf.constant(inputs[input_name])}
        outputs = signature.run(inputs)
        response = respond(request.model_spec, entry, signature, outputs)

        def acquire():
            with models.acquire(name):
                pass
        heavy = {"model call as served (Signature.run)": lambda: signature.run(inputs),
                 FLOOR: lambda: signature.function(**ready),
                 "whole Service.predict": lambda: service.predict(request)}
        light = {"parse request bytes": lambda: predict_pb2.PredictRequest.FromString(raw),
                 "resolve + hold version (acquire)": acquire,
                 "decode inputs": lambda: service_lib.decode_inputs(signature, request.inputs),
                 "check inputs + output filter": lambda: plan(entry, signature, inputs, ()),
                 "build PredictResponse": lambda: respond(request.model_spec, entry,
                                                          signature, outputs),
                 "serialize response": response.SerializeToString}
        yield heavy, light


def main(argv=None):
    default_model = serve_load.ROOT / "saved_models" / "sentiment" / "2"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default=str(default_model),
                        help="a SavedModel version folder BASE/NAME/<version>")
    parser.add_argument("--input_name", default="text")
    parser.add_argument("--calls", type=int, default=300, help="calls per light step")
    parser.add_argument("--model_calls", type=int, default=100, help="calls per model step")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--idle_ms", default="1.5,5",
                        help="also time the bare call after this much idle time (comma list)")
    parser.add_argument("--output_prefix",
                        default=str(serve_load.ROOT / "benchmarks/results/serve_pieces"))
    args = parser.parse_args(argv)
    try:
        args.idle_ms = [float(x) for x in args.idle_ms.split(",") if x]
    except ValueError:
        parser.error(f"--idle_ms must be numbers separated by commas, got {args.idle_ms!r}")
    model_dir = pathlib.Path(args.model_dir).resolve()
    if not (model_dir / "saved_model.pb").is_file():
        parser.error(f"--model_dir {model_dir} holds no saved_model.pb")
    rounds = {}
    for heavy, light in steps(str(model_dir.parent), model_dir.parent.name, args.input_name):
        for repeat in range(args.repeats):
            for label, fn in light.items():
                rounds.setdefault(label, []).append(time_call(fn, args.calls))
            for label, fn in heavy.items():   # model steps interleaved, back to back
                rounds.setdefault(label, []).append(time_call(fn, args.model_calls))
            for idle_ms in args.idle_ms:
                rounds.setdefault(f"bare model call after {idle_ms} ms idle", []).append(
                        time_call(heavy[FLOOR], args.model_calls, idle_ms / 1000))
            print(f"round {repeat + 1}/{args.repeats} done", flush=True)
    rows = [{"step": label, "median_us": round(statistics.median(values), 1),
             "rounds_us": [round(v, 1) for v in values]} for label, values in rounds.items()]
    light_total = sum(r["median_us"] for r in rows if r["step"] in light)
    served = statistics.median(rounds["model call as served (Signature.run)"])
    floor = statistics.median(rounds[FLOOR])
    report = {"command": " ".join([sys.executable, "-m", "benchmarks.serve_pieces"]
                                  + sys.argv[1:]),
              "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds"),
              "machine": machine_info(load_average_1m=round(os.getloadavg()[0], 2)),
              "model_dir": str(model_dir), "repeats": args.repeats, "rows": rows,
              "light_steps_total_us": round(light_total, 1),
              "served_minus_floor_us": round(served - floor, 1),
              "after_idle_minus_floor_us": {
                      ms: round(statistics.median(rounds[f"bare model call after {ms} ms idle"])
                                - floor, 1) for ms in args.idle_ms}}
    write_report(report, args.output_prefix)
    return 0


def write_report(report, prefix):
    lines = ["# keras-llm-serve Predict path, step by step (in process, no gRPC)", "",
             f"- Command: `{report['command']}`", f"- Date (UTC): {report['date_utc']}",
             f"- Machine: {report['machine']}", f"- Model: `{report['model_dir']}`",
             f"- Median per call; median of {report['repeats']} rounds", "",
             "| step | µs per call | rounds |", "|---|---|---|"]
    lines += [f"| {r['step']} | {r['median_us']} | {r['rounds_us']} |" for r in report["rows"]]
    lines += ["", f"- Request handling around the model (every step but the model calls and "
              f"the whole predict): {report['light_steps_total_us']} µs",
              f"- Model call as served minus the bare call: {report['served_minus_floor_us']} µs "
              "(noise of the model's own time is of the same order)",
              f"- Bare call after idle time minus the back-to-back call, by idle ms: "
              f"{report['after_idle_minus_floor_us']} µs (a server answering one client "
              "idles between requests while the answer travels)"]
    serve_load.save_report(report, lines, prefix)


if __name__ == "__main__":
    sys.exit(main())
