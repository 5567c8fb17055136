"""Runs a SavedModel's signatures in a fresh Python process that never imports tensorflow_text,
like a stock TF Serving binary: `run_in_fresh_process(path, texts)` -> dict of numpy outputs."""
import json
import os
import subprocess
import sys

import numpy as np

_SCRIPT = r"""
import json, sys
import tensorflow as tf
path, texts = sys.argv[1], json.loads(sys.argv[2])
m = tf.saved_model.load(path)
out = {"signatures": sorted(m.signatures)}
r = m.signatures["serving_default"](text=tf.constant(texts))
out["label"] = [x.decode() for x in r["label"].numpy()]
out["probabilities"] = r["probabilities"].numpy().tolist()
ex = [tf.train.Example(features=tf.train.Features(feature={"text": tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[t.encode()]))})).SerializeToString() for t in texts]
c = m.signatures["classify"](inputs=tf.constant(ex))
out["classes"] = [[x.decode() for x in row] for row in c["classes"].numpy()]
out["scores"] = c["scores"].numpy().tolist()
import keras_llm.export
report = keras_llm.export.check(path)
out["check_ok"] = report.ok
out["check_summary"] = report.summary()
out["tensorflow_text_loaded"] = "tensorflow_text" in sys.modules
print("RESULT:" + json.dumps(out))
"""


def run_in_fresh_process(path, texts, timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(path), json.dumps(texts)],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT:")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT:"):])
    for key in ("probabilities", "scores"):
        out[key] = np.asarray(out[key], np.float32)
    return out
