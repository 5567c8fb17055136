"""The entry points as a user runs them: --help exits 0, user errors are one line, stderr is quiet."""
import os
import subprocess
import sys

import pytest

from keras_llm.training import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=180):
    """Runs `python -m ARGS` as a user would: TF_CPP_MIN_LOG_LEVEL unset, no traceback env."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_LLM_TRACEBACK")}
    env["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, check=False)


def test_train_help_exits_zero_and_lists_every_config_field():
    proc = _run("keras_llm.train", "--help")
    assert proc.returncode == 0, proc.stderr
    for line in ("data.train_files = ()  (Tuple[str, ...])",
                 "optimizer.learning_rate = 0.001  (float)", "num_steps = 100  (int)",
                 "Named configs (--config): bert_mlm_small, bert_mlm_tiny, gpt_clm_small"):
        assert line in proc.stdout
    assert "--workdir" in proc.stdout and "--override" in proc.stdout
    # The example command keeps its line break (a bare backslash in a docstring joins lines).
    assert "--workdir=/tmp/gpt \\\n" in proc.stdout
    assert proc.stderr == ""  # no TensorFlow start-up lines either


def test_train_missing_data_file_is_one_line_naming_the_override(tmp_path):
    proc = _run("keras_llm.train", "--config=gpt_clm_tiny", f"--workdir={tmp_path / 'w'}",
                "--override=data.train_files=/nonexistent/corpus.txt")
    assert proc.returncode == 1
    assert proc.stderr == ("error: data file '/nonexistent/corpus.txt' does not exist; point "
                           "data.train_files at your files, e.g. "
                           "--override=data.train_files=a.txt,b.txt.\n")


@pytest.mark.parametrize("args, message", [
        (("--config=nope",), "error: Unknown config 'nope'"),
        (("--config=gpt_clm_tiny", "--override=bogus=1"), "error: Unknown config field 'bogus'"),
        (("--config=gpt_clm_tiny", "--override=num_steps=x"), "error: Cannot parse num_steps='x'")])
def test_train_config_errors_are_one_line(tmp_path, args, message):
    proc = _run("keras_llm.train", f"--workdir={tmp_path}", *args)
    assert proc.returncode == 1
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr


def test_train_without_required_flags_exits_2():
    proc = _run("keras_llm.train")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: flag --config=None") and proc.stderr.count("\n") == 1


def test_serve_help_example_and_thread_flag_text():
    proc = _run("keras_llm.serving.main", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--rest_api_port=8501 \\\n      --model_name=sentiment" in proc.stdout
    assert "two flags below" not in proc.stdout
    text = " ".join(proc.stdout.split())
    assert ("Ignored when --tensorflow_intra_op_parallelism or "
            "--tensorflow_inter_op_parallelism is set.") in text


def test_check_help_and_bad_path():
    proc = _run("keras_llm.check", "--help")
    assert proc.returncode == 0 and "keras-llm-check PATH" in proc.stdout, proc.stderr
    proc = _run("keras_llm.check", "/nonexistent/model")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: /nonexistent/model is neither a SavedModel folder")
    assert proc.stderr.count("\n") == 1


def test_named_configs_fall_back_to_the_packaged_corpus(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_LLM_DATA", str(tmp_path / "absent"))
    for name in config_lib.CONFIGS:
        files = config_lib.get_config(name).data.train_files
        assert files == (str(config_lib.PACKAGED_CORPUS),), name
    assert config_lib.PACKAGED_CORPUS.stat().st_size == 1_115_394  # Tiny Shakespeare


def test_named_configs_use_the_shared_data_when_present(monkeypatch, tmp_path):
    """benchmarks/results/pretrain_*.md were made on WikiText-2 valid + Tiny Shakespeare."""
    (tmp_path / "wikitext2").mkdir()
    (tmp_path / "tiny_shakespeare").mkdir()
    (tmp_path / "wikitext2" / "wiki.valid.tokens").write_text("a\n")
    (tmp_path / "tiny_shakespeare" / "input.txt").write_text("b\n")
    monkeypatch.setenv("KERAS_LLM_DATA", str(tmp_path))
    assert config_lib.get_config("gpt_clm_small").data.train_files == (
            str(tmp_path / "wikitext2" / "wiki.valid.tokens"),
            str(tmp_path / "tiny_shakespeare" / "input.txt"))


def test_setup_ships_the_corpus_as_package_data():
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as f:
        setup = f.read()
    assert '"keras_llm.training": ["corpora/*.txt"' in setup
    assert "keras-llm-check=keras_llm.check:run" in setup
