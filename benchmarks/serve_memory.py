"""Peak resident memory of keras-llm-serve against REST predict request size.

    flock /tmp/bench.lock python -m benchmarks.serve_memory     # saved_models/sentiment/2

For each size (--sizes, instances of about --chars characters of review-like text), a fresh
server (no batching) loads the model, answers one 1-row request, then gets one REST predict
request of that many instances; reported: the body size, the answer's HTTP status and latency,
the server's VmRSS before the request and its VmHWM (peak resident memory since start)
after it, read from /proc/<pid>/status. The servers run with --max_rows_per_request and
--max_rows_in_flight raised to the largest size and a long REST timeout, so every size is
served and its memory measured; the last rows send the largest size and the largest the
defaults allow to a server on default limits. Writes benchmarks/results/serve_memory.json
and .md (or --output_prefix). The issue this answers: a 20 MB body of 21,000 instances of
~960 characters grew the server to ~23 GiB before chunked model calls and admission control.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from benchmarks.serve_load import ROOT, save_report, start_server, stop_server  # noqa: E402
from keras_llm.utils.machine import machine_info  # noqa: E402

WORDS = ("the film a story acting plot good bad great dull moving cast script scene "
         "director music long slow funny sad charming weak strong ending character "
         "performance beautiful boring wonderful terrible surprisingly deeply").split()


def long_texts(count, chars, seed=0):
    """`count` review-like texts of `chars` characters (seeded words, cut to length)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = []
        while sum(len(w) + 1 for w in words) < chars:
            words.append(rng.choice(WORDS))
        texts.append(" ".join(words)[:chars])
    return texts


def memory_kib(pid):
    """(VmRSS, VmHWM) of a process in KiB, from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def rest_predict(address, name, body, timeout):
    """(HTTP status, seconds, error message or None) of one REST predict call."""
    request = urllib.request.Request(f"http://{address}/v1/models/{name}:predict", data=body,
                                     method="POST")
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    seconds = time.monotonic() - start
    error = None if status == 200 else json.loads(payload).get("error")
    return status, seconds, error


def measure(args, name, workdir, rows, texts, flags):
    """One fresh server, one request of `rows` instances: a result row (dict)."""
    proc, grpc_address, command = start_server(args.model_dir, name, workdir, False, "", 32,
                                               flags)
    rest_address = command.split("--rest_api_port=")[1].split()[0]
    rest_address = f"127.0.0.1:{rest_address}"
    try:
        rest_predict(rest_address, name, json.dumps({"instances": texts[:1]}).encode(), 60)
        rss_before, hwm_before = memory_kib(proc.pid)
        body = json.dumps({"instances": texts[:rows]}).encode()
        status, seconds, error = rest_predict(rest_address, name, body, 3600)
        rss_after, hwm_after = memory_kib(proc.pid)
        # the server still answers afterwards
        after, _, _ = rest_predict(rest_address, name, json.dumps({"instances": texts[:2]})
                                   .encode(), 60)
    finally:
        exit_code = stop_server(proc)
    row = {"instances": rows, "body_bytes": len(body), "status": status,
           "latency_s": round(seconds, 2), "rss_before_mib": round(rss_before / 1024),
           "peak_mib": round(hwm_after / 1024), "peak_before_request_mib":
           round(hwm_before / 1024), "rss_after_mib": round(rss_after / 1024),
           "status_of_next_request": after, "server_exit_code": exit_code,
           "server_flags": list(flags), "error": error}
    print(row, flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default=str(ROOT / "saved_models" / "sentiment" / "1"))
    parser.add_argument("--sizes", default="1,100,1000,2100,10000,21000")
    parser.add_argument("--chars", type=int, default=960)
    parser.add_argument("--output_prefix",
                        default=str(ROOT / "benchmarks/results/serve_memory"))
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    name = pathlib.Path(args.model_dir).resolve().parent.name
    texts = long_texts(max(sizes + [4096]), args.chars)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="serve-memory-"))
    raised = (f"--max_rows_per_request={max(sizes)}", f"--max_rows_in_flight={max(sizes)}",
              "--rest_api_timeout_in_ms=3600000")
    rows = [measure(args, name, workdir, n, texts, raised) for n in sizes]
    defaults = [measure(args, name, workdir, n, texts, ()) for n in (max(sizes), 4096)]
    write_report(args, name, rows, defaults)
    return 0


def write_report(args, name, rows, defaults):
    program = [sys.executable, "-m", "benchmarks.serve_memory"] + sys.argv[1:]
    report = {"command": " ".join(program),
              "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds"),
              "machine": machine_info(load_average_1m=round(os.getloadavg()[0], 2)),
              "model_dir": str(pathlib.Path(args.model_dir).resolve()), "model_name": name,
              "chars_per_instance": args.chars, "raised_limits": rows,
              "default_limits": defaults}
    header = ["| instances | body MB | HTTP | latency s | RSS before MiB | peak (VmHWM) MiB | "
              "peak - RSS before MiB | next request |", "|---|---|---|---|---|---|---|---|"]
    table = lambda rs: [f"| {r['instances']} | {r['body_bytes'] / 1e6:.2f} | {r['status']} | "
                        f"{r['latency_s']} | {r['rss_before_mib']} | {r['peak_mib']} | "
                        f"{r['peak_mib'] - r['rss_before_mib']} | "
                        f"{r['status_of_next_request']} |" for r in rs]
    lines = [f"# keras-llm-serve peak memory against REST request size ({name})", "",
             f"- Command: `{report['command']}`", f"- Date (UTC): {report['date_utc']}",
             f"- Machine: {report['machine']}", f"- Model: `{report['model_dir']}`",
             f"- Instances of {args.chars} characters; one fresh server (no batching, model "
             "calls of --max_rows_per_model_call=64 rows) per row; one 1-row request first, "
             "then the measured request; VmRSS / VmHWM from /proc/<pid>/status", "",
             f"Limits raised to serve every size ({' '.join(rows[0]['server_flags'])}):", "",
             *header, *table(rows), "",
             "Default limits (--max_rows_per_request=4096, --max_rows_in_flight=16384, "
             "--max_bytes_in_flight=256 MiB, --max_request_bytes=64 MiB):", "",
             *header, *table(defaults), ""]
    lines += [f"- {r['instances']} instances at default limits: {r['error']}"
              for r in defaults if r["error"]]
    lines += [f"- Server exit codes after SIGTERM: "
              f"{[r['server_exit_code'] for r in rows + defaults]}"]
    save_report(report, lines, args.output_prefix)


if __name__ == "__main__":
    sys.exit(main())
