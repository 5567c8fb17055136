"""Shared plumbing for keras_llm's command-line entry points.

    from keras_llm.utils import cli
    cli.quiet_tensorflow()          # before anything imports TensorFlow
    ...
    if __name__ == "__main__":
        cli.run(main)               # absl.app.run with exit 0 on --help, one-line user errors

- `quiet_tensorflow()`: no TensorFlow start-up chatter (oneDNN notice, CUDA probing,
  `failed call to cuInit`) on a CPU-only machine. Set TF_CPP_MIN_LOG_LEVEL yourself
  (`TF_CPP_MIN_LOG_LEVEL=0` shows every line) to get TensorFlow's own behaviour back.
- `run(main)`: `--help`/`--helpshort`/`--helpfull` print help and exit 0; a user error
  (ValueError, FileNotFoundError, ConfigError, absl UsageError, a bad flag) prints one line
  `error: <message>` to stderr and exits 2 (usage) or 1 (other); `KERAS_LLM_TRACEBACK=1`
  shows the traceback instead. Any other exception keeps its traceback.
- `is_terminal(stream)` and `progress_bar(...)`: Keras' `\\r` progress bar on a terminal,
  plain lines in log files.

Importing this module does not import TensorFlow.
"""
import os
import re
import sys
import tempfile
from typing import Callable, Optional, Sequence

from absl import app, flags

from keras_llm.utils.config import ConfigError

TRACEBACK_ENV = "KERAS_LLM_TRACEBACK"
LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
USAGE_EXIT_CODE = 2
ERROR_EXIT_CODE = 1
USER_ERRORS = (ConfigError, ValueError, FileNotFoundError)
HELP_ARGS = ("--help", "-help", "-h", "-?", "--helpshort", "--helpfull", "-helpfull")

# Lines TensorFlow's C++ runtime writes while it is imported and probes for devices. Some come
# from absl logging before TensorFlow initialises it, which TF_CPP_MIN_LOG_LEVEL cannot filter.
_NOISE = re.compile(
        r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
        r"|[IW]\d{4} "                                  # INFO / WARNING lines of the C++ runtime
        r"|E\d{4} .*(cuInit|cuda|CUDA|cuDNN|cuFFT|cuBLAS|TensorRT)"
        r"|To enable the following instructions:"       # continuation of cpu_feature_guard
        r")")


def quiet_tensorflow() -> None:
    """Imports TensorFlow without its start-up lines; call before anything imports it.

    Sets TF_CPP_MIN_LOG_LEVEL=2 (C++ INFO and WARNING hidden) unless the user set it. Lines
    absl writes before TensorFlow initialises logging ignore that variable, so the import and
    the device probe run with stderr captured, and every captured line that is not start-up
    noise is written back. A user-set TF_CPP_MIN_LOG_LEVEL turns all of this off.
    """
    if LOG_LEVEL_ENV in os.environ or "tensorflow" in sys.modules:
        return
    os.environ[LOG_LEVEL_ENV] = "2"
    with _FilteredStderr():
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        tf.config.list_physical_devices()  # loads the GPU platform: the cuInit probe


class _FilteredStderr:
    """Captures file descriptor 2 (C++ and Python writes alike); replays non-noise lines."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = tempfile.TemporaryFile(mode="w+b")
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc_info):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        text = self._file.read().decode("utf-8", errors="replace")
        self._file.close()
        kept = [line for line in text.splitlines(keepends=True) if not _NOISE.match(line)]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
        return False


def run(main: Callable[[Sequence[str]], Optional[int]], argv: Optional[Sequence[str]] = None,
        help_text: Optional[Callable[[], str]] = None) -> None:
    """`absl.app.run(main)` with exit 0 on --help and one-line user errors (see module doc).

    help_text: called only for --help; its text is printed after the module docstring
    (e.g. the config fields an entry point accepts).
    """
    argv = list(sys.argv if argv is None else argv)
    _use_module_help(main)
    if help_text is not None:
        main_module = sys.modules["__main__"]
        main_module.__doc__ = (main_module.__doc__ or "").rstrip() + "\n\n" + help_text()
    help_arg = _help_arg(argv[1:])
    if help_arg is not None:
        full = help_arg in ("--helpfull", "-helpfull")
        app.usage(shorthelp=not full, writeto_stdout=True, exitcode=0)
    app.run(_guarded(main), argv=argv, flags_parser=_parse_flags)


def _help_arg(args: Sequence[str]) -> Optional[str]:
    for arg in args:
        if arg == "--":
            return None
        if arg in HELP_ARGS:
            return arg
    return None


def _use_module_help(main) -> None:
    """Console scripts run a generated __main__: give it main's module docstring and flags."""
    module = sys.modules.get(getattr(main, "__module__", ""), None)
    main_module = sys.modules["__main__"]
    if module is None or module is main_module:
        return
    if not main_module.__doc__:
        main_module.__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        _fail(e, USAGE_EXIT_CODE)


def _guarded(main):
    def guarded_main(argv):
        try:
            return main(argv)
        except app.UsageError as e:
            _fail(e, USAGE_EXIT_CODE)
        except USER_ERRORS as e:
            _fail(e, ERROR_EXIT_CODE)
        except Exception as e:  # pylint: disable=broad-except
            # A SavedModel's in-graph check (tf.debugging.assert_*): show its message only.
            message = _graph_assertion(e)
            if message is None:
                raise
            _fail(ValueError(message), ERROR_EXIT_CODE)
        return None
    return guarded_main


def _graph_assertion(error: BaseException):
    """The first bracketed message of a failed graph assertion, else None."""
    if type(error).__name__ != "InvalidArgumentError":
        return None
    match = re.search(r"assertion failed: \[([^\]]*)\]", str(error))
    return match.group(1).replace("\\'", "'") if match else None


def _fail(error: BaseException, code: int) -> None:
    if os.environ.get(TRACEBACK_ENV, "").lower() in ("1", "true", "yes"):
        raise error
    message = " ".join(str(error).split()) or type(error).__name__
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


def is_terminal(stream=None) -> bool:
    """True if `stream` (default: the current sys.stdout) is an interactive terminal."""
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


class PlainProgress:
    """Progbar's `update(step, values)` as one plain line per call, for logs and pipes."""

    def __init__(self, target: int, stream=None, verbose: bool = True):
        self.target, self.verbose = target, verbose
        self.stream = stream

    def update(self, current: int, values=None, finalize=None) -> None:
        del finalize  # Progbar compatibility
        if not self.verbose:
            return
        parts = [f"step {current}/{self.target}"]
        parts += [f"{name}={_format(value)}" for name, value in (values or [])]
        stream = sys.stdout if self.stream is None else self.stream
        stream.write(" ".join(parts) + "\n")
        stream.flush()


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def progress_bar(target: int, stateful_metrics: Sequence[str] = (), verbose: bool = True,
                 stream=None):
    """keras.utils.Progbar on a terminal, else PlainProgress (no `\\r` or escape codes)."""
    if is_terminal(stream):
        import keras  # pylint: disable=import-outside-toplevel
        return keras.utils.Progbar(target, stateful_metrics=list(stateful_metrics),
                                   verbose=1 if verbose else 0)
    return PlainProgress(target, stream=stream, verbose=verbose)
