"""keras-llm-demo: serve saved_models/ with keras-llm-serve and query it over gRPC and REST.

Finds every model folder (NAME/<version>/saved_model.pb) under the models dir
(--models_dir, else $KERAS_LLM_MODELS_DIR, else the repo's saved_models/), writes a
model_config_file for them, starts keras-llm-serve on free ports, waits until each
model is AVAILABLE, sends example inputs to every model whose serving_default takes string
inputs it has examples for (`text`: sentences for sentiment and NER; `question` + `context`:
extractive QA; `prompt`: text generation; `text` of a model whose output is `translation`:
German sentences, or `summary`: a dialogue), prints the answers, then stops the server with SIGTERM.
"""
import argparse
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

SENTENCES = ["A wonderful, moving film with a great cast.",
             "Dull plot, wooden acting, a waste of two hours.",
             "It was fine.",
             "Angela Merkel met Emmanuel Macron in Paris before the European Union summit."]
# Example values per serving_default input name (string inputs, one list per name).
EXAMPLES = {
        "text": SENTENCES,
        "question": ["Where did the summit take place?"],
        "context": ["Leaders of the member states met in Brussels on Thursday for a two-day "
                    "summit on energy prices, hosted by the European Council."],
        "prompt": ["ROMEO:\n"],
}
# Models whose serving_default has this output get these inputs instead.
EXAMPLES_BY_OUTPUT = {
        "translation": {"text": ["Ein Mann mit einem roten Helm fährt mit dem Fahrrad.",
                                 "Zwei Hunde spielen im Schnee."]},
        "summary": {"text": ["#Person1#: Hello, I'd like to book a table for two at seven "
                             "tonight.\n#Person2#: Certainly. May I have your name?\n"
                             "#Person1#: It's Smith.\n#Person2#: A table for two at seven, "
                             "Mr. Smith. See you tonight."]},
}


def default_models_dir():
    env = os.environ.get("KERAS_LLM_MODELS_DIR")
    if env:
        return pathlib.Path(env)
    repo = pathlib.Path(__file__).resolve().parents[2] / "saved_models"
    return repo if repo.is_dir() else pathlib.Path.cwd() / "saved_models"


def find_models(models_dir):
    """{name: base path} of folders holding at least one <version>/saved_model.pb."""
    found = {}
    for child in sorted(pathlib.Path(models_dir).iterdir()):
        if child.is_dir() and any(v.name.isdigit() and (v / "saved_model.pb").is_file()
                                  for v in child.iterdir()):
            found[child.name] = child.resolve()
    return found


def write_config(models, path):
    entries = "".join(f'  config {{ name: "{name}" base_path: "{base}" '
                      f'model_platform: "tensorflow" }}\n' for name, base in models.items())
    path.write_text(f"model_config_list {{\n{entries}}}\n")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_available(rest_address, names, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"keras-llm-serve exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://{rest_address}/healthz", timeout=2) as r:
                models = json.loads(r.read())["models"]
            if all(models.get(n) for n in names):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"models {names} not AVAILABLE after {timeout}s")


def _show(value):
    """A row of an output, printable: text decoded, "" / -1 padding dropped, floats rounded."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    flat = np.ravel(value)
    if flat.dtype == object:
        return [x.decode("utf-8", "replace") for x in flat if x != b""]
    if np.issubdtype(flat.dtype, np.integer):
        return [int(x) for x in flat if x != -1] if flat.size != 1 else int(flat[0])
    return [round(float(x), 3) for x in flat] if flat.size != 1 else round(float(flat[0]), 3)


def query(client, name):
    """Sends the EXAMPLES matching the model's serving_default inputs; printable lines."""
    signature = client.metadata(name).get("serving_default")
    inputs = (signature or {}).get("inputs", {})
    examples = next((EXAMPLES_BY_OUTPUT[output] for output in (signature or {}).get(
            "outputs", {}) if output in EXAMPLES_BY_OUTPUT), EXAMPLES)
    if not inputs or any(alias not in examples or spec["dtype"] != "string"
                         for alias, spec in inputs.items()):
        return [f"  {name}: no example for serving_default inputs {sorted(inputs)}; skipped"]
    count = min(len(examples[alias]) for alias in inputs)
    request = {alias: examples[alias][:count] for alias in inputs}
    outputs = client.predict(name, request)
    lines = []
    for i in range(count):
        shown = {alias: values[i] for alias, values in request.items()}
        answer = {k: _show(v[i]) for k, v in outputs.items()}
        lines.append(f"  [{client.protocol}] {name}: {shown} -> {answer}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models_dir", default=None, help="folder of model folders")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for models")
    args = parser.parse_args(argv)
    from keras_llm.utils import cli  # pylint: disable=import-outside-toplevel
    cli.quiet_tensorflow()
    from keras_llm.serving import Client  # after parsing: --help stays fast
    models_dir = pathlib.Path(args.models_dir) if args.models_dir else default_models_dir()
    models = find_models(models_dir) if models_dir.is_dir() else {}
    if not models:
        print(f"no model folders (NAME/<version>/saved_model.pb) under {models_dir}")
        return 1
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="keras-llm-demo-"))
    write_config(models, workdir / "models.config")
    grpc_port, rest_port = _free_port(), _free_port()
    cmd = [sys.executable, "-m", "keras_llm.serving.main", f"--port={grpc_port}",
           f"--rest_api_port={rest_port}", f"--model_config_file={workdir / 'models.config'}"]
    print(f"starting: {' '.join(cmd)}")
    log = open(workdir / "server.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_available(f"127.0.0.1:{rest_port}", list(models), proc, args.timeout)
        print(f"models AVAILABLE: {', '.join(models)}")
        for client in (Client(f"127.0.0.1:{grpc_port}"),
                       Client(f"127.0.0.1:{rest_port}", protocol="rest")):
            for name in models:
                print("\n".join(query(client, name)))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        log.close()
    print(f"keras-llm-serve stopped with exit code {code} (log: {workdir / 'server.log'})")
    return 0 if code == 0 else 1


def run():
    """Console script entry point (keras-llm-demo)."""
    sys.exit(main())


if __name__ == "__main__":
    run()
