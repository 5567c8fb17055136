"""Fixtures for training tests: a generated corpus (fresh-clone safe) and subprocess runners."""
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORDS = ("the cat dog sat on a mat and ran to big small red blue house tree bird sang "
         "over under near far quick slow happy sad green old new city river").split()


def write_corpus(path, lines=400, seed=0):
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            f.write(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))) + ".\n")
    return str(path)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


def tiny_overrides(corpus_path, steps=8, extra=()):
    return [f"data.train_files={corpus_path}", f"num_steps={steps}", "verbose=false",
            "data.sequence_length=32", "data.shuffle_buffer=64", "data.max_eval_batches=2",
            "log_every=1", "eval_every=1000", "checkpoint_every=1000", *extra]


def cli_command(config, workdir, overrides, strategy="one_device", cpu_devices=0, result=None):
    cmd = [sys.executable, "-m", "keras_llm.train", f"--config={config}", f"--workdir={workdir}",
           f"--strategy={strategy}", f"--cpu_devices={cpu_devices}"]
    cmd += [f"--override={o}" for o in overrides]
    if result:
        cmd.append(f"--result_json={result}")
    return cmd


def subprocess_env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=PROJECT_ROOT)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def run_cli(config, workdir, overrides, timeout=300, **kwargs):
    """Runs the CLI in a fresh process (logical devices and TF_CONFIG never leak) -> result dict."""
    result = os.path.join(str(workdir), "result.json")
    proc = subprocess.run(cli_command(config, workdir, overrides, result=result, **kwargs),
                          env=subprocess_env(), cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with open(result, encoding="utf-8") as f:
        return json.load(f)


def model_weights(checkpoint_dir):
    """{name: array} of the model variables in the newest checkpoint of a directory.

    Variables are keyed by their first path in the object graph, which for trainable weights is
    often the optimizer's reference list rather than the model.
    """
    path = tf.train.latest_checkpoint(str(checkpoint_dir))
    assert path, f"no checkpoint in {checkpoint_dir}"
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(path)
            if name.startswith(("model/", "optimizer/_trainable_variables/"))}


def assert_same_weights(a, b, atol):
    assert a.keys() == b.keys() and len(a) > 10
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=atol, rtol=0, err_msg=name)
