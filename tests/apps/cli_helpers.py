"""Running app commands as a user does, for the end-to-end tests: fresh processes from the
repository root, without the shared data folder, TensorFlow's start-up lines quiet."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).parents[2]


def run_cli(*args, timeout=600):
    """`python -m ARGS` -> stdout; the test fails with stderr's tail on a non-zero exit."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_LLM_DATA="/nonexistent")
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout
