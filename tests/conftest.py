"""Shared test setup: TensorFlow backend, seeds, quiet logs, data-set availability."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"

import keras_llm  # noqa: E402,F401  (forces the backend before keras is imported)
import pytest  # noqa: E402

from keras_llm.utils import paths  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    import keras
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


def pytest_collection_modifyitems(config, items):
    if paths.shared_data_dir().is_dir():
        return
    skip = pytest.mark.skip(reason="../shared/data is not present (fresh clone)")
    for item in items:
        if "needs_data" in item.keywords:
            item.add_marker(skip)
