"""keras-llm-serve's TensorFlow thread flags side by side: req/s of the sentiment model under
--clients concurrent gRPC clients, for each --configs thread setting, with and without
batching, in one run.

    flock /tmp/bench.lock python -m benchmarks.serve_threads
    python -m benchmarks.serve_threads --configs=auto,1x1,2x1 --clients=32 --repeats=5

A config is `auto` (stock's default: both pools sized by TensorFlow) or INTRAxINTER
(--tensorflow_intra_op_parallelism x --tensorflow_inter_op_parallelism). Every server is up
for the whole run; each repeat loads every server once, in an order that rotates from repeat
to repeat, so the ratios compare runs seconds apart. Load generation, model and batching
parameters are serve_load's. Writes benchmarks/results/serve_threads.json and .md (or
--output_prefix).
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import datetime  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402

from benchmarks import serve_load  # noqa: E402
from keras_llm.utils.machine import machine_info  # noqa: E402


def parse_config(text):
    """'auto' -> (0, 0); '1x2' -> (1, 2); anything else: ValueError naming it."""
    if text == "auto":
        return 0, 0
    try:
        intra, inter = (int(part) for part in text.split("x"))
    except ValueError:
        raise ValueError(f"thread config {text!r}: use auto or INTRAxINTER, e.g. 1x1") from None
    if intra < 1 or inter < 1:
        raise ValueError(f"thread config {text!r}: thread counts must be >= 1")
    return intra, inter


def main(argv=None):
    default_model = serve_load.ROOT / "saved_models" / "sentiment" / "2"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default=str(default_model))
    parser.add_argument("--input_name", default="text")
    parser.add_argument("--configs", default="auto,1x1")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--client_processes", type=int, default=2)
    parser.add_argument("--output_prefix",
                        default=str(serve_load.ROOT / "benchmarks/results/serve_threads"))
    args = parser.parse_args(argv)
    try:
        configs = {name: parse_config(name) for name in args.configs.split(",")}
    except ValueError as e:
        parser.error(str(e))
    if not pathlib.Path(args.model_dir).is_dir():
        parser.error(f"--model_dir {args.model_dir} is not a folder")
    name = pathlib.Path(args.model_dir).resolve().parent.name
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="serve-threads-"))
    batching_text = serve_load.BATCHING % (2000, 2)
    servers, runs = {}, {}
    try:
        for config, (intra, inter) in configs.items():
            for batching in (False, True):
                folder = workdir / f"{config}-{int(batching)}"
                folder.mkdir()
                flags = [f"--tensorflow_intra_op_parallelism={intra}",
                         f"--tensorflow_inter_op_parallelism={inter}"]
                servers[config, batching] = serve_load.start_server(
                        args.model_dir, name, folder, batching, batching_text, 32, flags)
        requests = serve_load.make_requests(name, args.input_name)
        keys = list(servers)
        for key in keys:                     # warm every server up once
            serve_load.run_load(servers[key][1], requests, args.clients, 1.0,
                                args.client_processes)
        for repeat in range(args.repeats):
            order = keys[repeat % len(keys):] + keys[:repeat % len(keys)]
            for key in order:
                rps, _, errors, _ = serve_load.run_load(servers[key][1], requests, args.clients,
                                                        args.duration, args.client_processes)
                runs.setdefault(key, []).append((round(rps, 1), errors))
                print(f"repeat {repeat + 1}/{args.repeats} {key[0]} batching={key[1]}: "
                      f"{rps:.1f} req/s, {errors} errors", flush=True)
    finally:
        codes = {f"{c}-{b}": serve_load.stop_server(s[0]) for (c, b), s in servers.items()}
    report = summarize(args, configs, runs, codes)
    write_report(report, args.output_prefix)
    return 0


def summarize(args, configs, runs, codes):
    first = next(iter(configs))
    rows = []
    for config in configs:
        for batching in (False, True):
            rates = [r for r, _ in runs[config, batching]]
            base = [r for r, _ in runs[first, batching]]
            rows.append({"config": config, "batching": batching,
                         "rps_median": round(statistics.median(rates), 1), "rps_runs": rates,
                         "errors": sum(e for _, e in runs[config, batching]),
                         f"x_{first}_ratio_of_medians": round(
                                 statistics.median(rates) / statistics.median(base), 2),
                         f"x_{first}_per_repeat_median": round(statistics.median(
                                 r / b for r, b in zip(rates, base)), 2)})
    return {"command": " ".join([sys.executable, "-m", "benchmarks.serve_threads"]
                                + sys.argv[1:]),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"),
            "machine": machine_info(load_average_1m=round(os.getloadavg()[0], 2)),
            "model_dir": str(pathlib.Path(args.model_dir).resolve()), "clients": args.clients,
            "duration_s": args.duration, "repeats": args.repeats,
            "batching_parameters": serve_load.BATCHING % (2000, 2),
            "rows": rows, "server_exit_codes": codes}


def write_report(report, prefix):
    ratio_keys = [k for k in report["rows"][0] if k.startswith("x_")]
    lines = ["# keras-llm-serve TensorFlow thread settings, side by side", "",
             f"- Command: `{report['command']}`", f"- Date (UTC): {report['date_utc']}",
             f"- Machine: {report['machine']}", f"- Model: `{report['model_dir']}`",
             f"- {report['clients']} closed-loop gRPC clients, {report['repeats']} repeats x "
             f"{report['duration_s']} s per server, order rotated each repeat; medians", "",
             "| threads (intra x inter) | batching | req/s | " + " | ".join(ratio_keys)
             + " | errors | runs |", "|---|---|---|" + "---|" * len(ratio_keys) + "---|---|"]
    for row in report["rows"]:
        lines.append(f"| {row['config']} | {'yes' if row['batching'] else 'no'} | "
                     f"{row['rps_median']} | " + " | ".join(str(row[k]) for k in ratio_keys)
                     + f" | {row['errors']} | {row['rps_runs']} |")
    lines += ["", f"Server exit codes after SIGTERM: {report['server_exit_codes']}", "",
              "Batching parameters:", "```", report["batching_parameters"].strip(), "```"]
    serve_load.save_report(report, lines, prefix)


if __name__ == "__main__":
    sys.exit(main())
