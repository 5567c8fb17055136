"""keras_llm: Transformer language models for TensorFlow/Keras, built for TF Serving.

Importing keras_llm forces the Keras backend to TensorFlow: every layer here uses
TensorFlow ops so that exported SavedModels load in stock TensorFlow Serving.
"""
import os
import sys

_BACKEND = "tensorflow"
if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", _BACKEND) != _BACKEND:
    raise ImportError(
            f"keras was already imported with KERAS_BACKEND={os.environ['KERAS_BACKEND']!r}; "
            "keras_llm needs the TensorFlow backend. Import keras_llm before keras, or "
            "unset KERAS_BACKEND.")
os.environ["KERAS_BACKEND"] = _BACKEND

__version__ = "0.1.0"
