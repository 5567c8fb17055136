"""keras-llm-demo end to end on a toy saved_models/ folder."""
import os
import subprocess
import sys

from tests.serving.conftest import copy_version


def test_demo_runs_against_toy_models_dir(tmp_path, toy_versions):
    copy_version(toy_versions, 1, str(tmp_path / "toy"))
    (tmp_path / "empty").mkdir()
    env = dict(os.environ, KERAS_LLM_MODELS_DIR=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "keras_llm.serving.demo"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "models AVAILABLE: toy" in out
    assert "[grpc] toy: {'text': 'A wonderful, moving film with a great cast.'} -> {" in out
    assert "[rest] toy: {'text': 'It was fine.'} -> {" in out
    assert out.count("'label': 'negative'") == 8        # 4 sentences x 2 protocols
    assert "exit code 0" in out
