"""Generation app end to end: train the tiny config on the packaged Tiny Shakespeare, export it
through the CLI, then: the same seed gives the same text in process and from the SavedModel
loaded in a fresh process without tensorflow_text; evaluate reports nats/char; bad parameters
are INVALID_ARGUMENT (gRPC) and 400 (REST) naming the input, from keras-llm-serve."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from tests.serving.conftest import ServerProcess
from tests.serving.helpers import Stubs, grpc_error, http

from tests.apps.cli_helpers import ROOT, run_cli as _cli
PROMPTS = ["ROMEO:\n", "First Citizen:\nWe are", ""]
PARAMS = {"max_new_tokens": [6, 3, 8], "temperature": [0.9, 0.0, 1.2], "top_k": [20, 0, 0],
          "top_p": [0.95, 1.0, 0.8], "seed": [4, 0, 9]}
_DTYPES = {"max_new_tokens": tf.int32, "top_k": tf.int32, "seed": tf.int32}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("generate")
    _cli("apps.generate.train", "--config=tiny", f"--workdir={root / 'work'}")
    out = _cli("apps.generate.export", f"--workdir={root / 'work'}",
               f"--base_dir={root / 'models'}")
    assert "RESULT: OK" in out and "core TensorFlow ops only" in out
    return root


def _inputs():
    return {"prompt": tf.constant(PROMPTS),
            **{k: tf.constant(v, _DTYPES.get(k, tf.float32)) for k, v in PARAMS.items()}}


_FRESH = r"""
import json, sys
import tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
inputs = json.loads(sys.argv[2])
dtypes = {"prompt": tf.string, "max_new_tokens": tf.int32, "top_k": tf.int32, "seed": tf.int32}
out = m.signatures["generate"](**{k: tf.constant(v, dtypes.get(k, tf.float32))
                                  for k, v in inputs.items()})
print("RESULT:" + json.dumps({"text": [t.decode() for t in out["text"].numpy()],
                              "num_tokens": out["num_tokens"].numpy().tolist(),
                              "tensorflow_text": "tensorflow_text" in sys.modules}))
"""


def test_same_seed_same_text_in_process_and_exported(trained):
    from keras_llm.export.generation import module_from_preset
    module = module_from_preset(trained / "work" / "preset", default_max_new_tokens=8)
    host = tf.function(module.serve_prompts)(_inputs())
    host_text = [t.decode() for t in host["text"].numpy()]
    proc = subprocess.run([sys.executable, "-c", _FRESH, str(trained / "models" / "1"),
                           json.dumps({"prompt": PROMPTS, **PARAMS})], capture_output=True,
                          text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT:")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    exported = json.loads(lines[-1][len("RESULT:"):])
    assert not exported["tensorflow_text"]
    assert exported["text"] == host_text
    assert exported["num_tokens"] == host["num_tokens"].numpy().tolist()
    assert all(n <= m for n, m in zip(exported["num_tokens"], PARAMS["max_new_tokens"]))


def test_evaluate_reports_nats_per_character(trained, tmp_path):
    out = _cli("apps.generate.evaluate", f"--saved_model={trained / 'models'}",
               "--sample_tokens=10", f"--report={tmp_path / 'report'}",
               f"--training_workdir={trained / 'work'}")
    metrics = json.loads((tmp_path / "report.json").read_text())["metrics"]
    assert 0.5 < metrics["valid_nats_per_char"] < 6.0
    # Packaged corpus, last 10% of its characters (nanoGPT's split).
    assert metrics["valid_characters"] == 111540
    assert "valid_nats_per_char" in out
    assert (tmp_path / "report.md").read_text().count("```") == 8  # four sampled texts


def test_bad_parameters_are_invalid_argument_through_the_server(trained, tmp_path):
    server = ServerProcess(str(tmp_path), "--model_name=generation",
                           f"--model_base_path={trained / 'models'}")
    try:
        request = predict_pb2.PredictRequest()
        request.model_spec.name, request.model_spec.signature_name = "generation", "generate"
        bad = {**{k: [v[0]] for k, v in PARAMS.items()}, "top_p": [1.5]}
        request.inputs["prompt"].CopyFrom(tf.make_tensor_proto([b"ROMEO:"]))
        for name, value in bad.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(
                    np.array(value, _DTYPES.get(name, tf.float32).as_numpy_dtype)))
        code, details = grpc_error(Stubs(server.grpc_address).predict.Predict, request)
        assert code == "INVALID_ARGUMENT" and "top_p must be in (0, 1]" in details
        instance = {"prompt": "ROMEO:", **{k: v[0] for k, v in PARAMS.items()},
                    "max_new_tokens": -3}
        status, body = http(server.rest_address, "/v1/models/generation:predict",
                            {"signature_name": "generate", "instances": [instance]})
        assert status == 400 and "max_new_tokens must be >= 0" in body["error"]
        instance["max_new_tokens"] = 4
        status, body = http(server.rest_address, "/v1/models/generation:predict",
                            {"signature_name": "generate", "instances": [instance]})
        assert status == 200 and body["predictions"][0]["num_tokens"] <= 4
    finally:
        server.stop()
