"""keras_llm.utils.cli: exit codes, one-line user errors, quiet TensorFlow, plain progress."""
import io
import os
import subprocess
import sys
import textwrap

import pytest

from keras_llm.utils import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A tiny absl entry point that fails the way it is told to (no TensorFlow: fast).
_SCRIPT = textwrap.dedent('''
    """Toy entry point: its docstring is the --help text."""
    from absl import app, flags
    from keras_llm.utils import cli, config
    flags.DEFINE_string("fail", "", "what to raise")

    def main(argv):
        kind = flags.FLAGS.fail
        if kind == "value":
            raise ValueError("bad value 'x'\\n  (second line)")
        if kind == "missing":
            open("/nonexistent/file.txt")
        if kind == "config":
            raise config.ConfigError("Unknown config field 'nope'")
        if kind == "usage":
            raise app.UsageError("give --fail")
        if kind == "bug":
            raise RuntimeError("a bug")
        print("ran", argv[1:])

    cli.run(main)
''')


def _toy(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k != cli.TRACEBACK_ENV}
    full_env.update(PYTHONPATH=ROOT, **env)
    return subprocess.run([sys.executable, "-c", _SCRIPT, *args], capture_output=True,
                          text=True, timeout=60, env=full_env, check=False)


@pytest.mark.parametrize("arg", ["--help", "-h", "--helpshort", "--helpfull"])
def test_help_exits_zero_and_prints_the_docstring_and_flags(arg):
    proc = _toy(arg)
    assert proc.returncode == 0, proc.stderr
    assert "Toy entry point" in proc.stdout and "--fail" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("kind, code, message", [
        ("value", 1, "error: bad value 'x' (second line)\n"),
        ("missing", 1, "error: [Errno 2] No such file or directory: '/nonexistent/file.txt'\n"),
        ("config", 1, "error: Unknown config field 'nope'\n"),
        ("usage", 2, "error: give --fail\n")])
def test_user_errors_are_one_line_on_stderr(kind, code, message):
    proc = _toy(f"--fail={kind}")
    assert (proc.returncode, proc.stderr, proc.stdout) == (code, message, "")


def test_unknown_flag_is_one_line_with_exit_code_2():
    proc = _toy("--no_such_flag=1")
    assert proc.returncode == 2
    assert proc.stderr == "error: Unknown command line flag 'no_such_flag'\n"


def test_traceback_env_var_shows_the_traceback():
    proc = _toy("--fail=value", KERAS_LLM_TRACEBACK="1")
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert "ValueError: bad value 'x'" in proc.stderr


def test_unexpected_exceptions_keep_their_traceback():
    proc = _toy("--fail=bug")
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    assert "RuntimeError: a bug" in proc.stderr


def test_success_runs_main_with_positional_args():
    proc = _toy("a", "b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran ['a', 'b']\n"


def test_quiet_tensorflow_leaves_no_start_up_lines():
    """On this CPU-only machine, a bare `import tensorflow` prints oneDNN, cudart_stub and an
    error-level `failed call to cuInit`; after quiet_tensorflow() stderr holds only our line."""
    code = ("from keras_llm.utils import cli; cli.quiet_tensorflow(); import tensorflow as tf; "
            "tf.constant(1.0) + 1.0; import sys; sys.stderr.write('kept\\n')")
    env = {k: v for k, v in os.environ.items() if k != cli.LOG_LEVEL_ENV}
    env["PYTHONPATH"] = ROOT
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env, check=True)
    assert proc.stderr == "kept\n"


def test_a_user_set_log_level_wins(monkeypatch):
    monkeypatch.setenv(cli.LOG_LEVEL_ENV, "0")
    cli.quiet_tensorflow()  # TensorFlow may be imported already: must be a no-op either way
    assert os.environ[cli.LOG_LEVEL_ENV] == "0"


def test_filtered_stderr_drops_start_up_noise_and_keeps_the_rest(capfd):
    with cli._FilteredStderr():  # pylint: disable=protected-access
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\n"
                    b"I0000 00:00:1.0  42 cudart_stub.cc:31] Could not find cuda drivers\n"
                    b"E0000 00:00:1.0  42 cuda_platform.cc:52] failed call to cuInit: x\n"
                    b"E0000 00:00:1.0  42 op_kernel.cc:1] a real error\n"
                    b"plain python warning\n")
    assert capfd.readouterr().err == ("E0000 00:00:1.0  42 op_kernel.cc:1] a real error\n"
                                      "plain python warning\n")


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_is_terminal():
    assert cli.is_terminal(_Tty())
    assert not cli.is_terminal(io.StringIO())
    assert not cli.is_terminal(object())  # no isatty at all
    closed = io.StringIO()
    closed.close()
    assert not cli.is_terminal(closed)


def test_progress_bar_writes_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = cli.progress_bar(100, stateful_metrics=["loss"], stream=out)
    assert isinstance(bar, cli.PlainProgress)
    bar.update(10, [("loss", 4.123456), ("lr", 0.0005), ("tok/s", 1234.0)])
    bar.update(20, [("loss", 3.5)])
    assert out.getvalue() == ("step 10/100 loss=4.123 lr=0.0005 tok/s=1234\n"
                              "step 20/100 loss=3.5\n")
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    silent = io.StringIO()
    cli.progress_bar(5, stream=silent, verbose=False).update(1, [("loss", 1.0)])
    assert silent.getvalue() == ""


def test_progress_bar_is_keras_progbar_on_a_terminal():
    import keras  # pylint: disable=import-outside-toplevel
    assert isinstance(cli.progress_bar(5, stream=_Tty()), keras.utils.Progbar)
