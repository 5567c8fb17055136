"""keras_llm: Transformer language models for TensorFlow/Keras, served by TF Serving."""
import pathlib

import setuptools

ROOT = pathlib.Path(__file__).parent

setuptools.setup(
    name="keras_llm",
    version="0.1.0",
    description="Transformer LMs for Keras 3 / TensorFlow: pretrain, fine-tune, export, serve.",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=setuptools.find_packages(include=["keras_llm", "keras_llm.*", "apps", "apps.*"]),
    include_package_data=True,
    # Tiny Shakespeare (public domain): the named training configs' corpus on a fresh install.
    package_data={"keras_llm.training": ["corpora/*.txt", "corpora/*.md"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "numpy>=1.26,<3",
        "absl-py>=2.1,<3",
        "grpcio>=1.60,<2",
        "protobuf>=5.28",
        "tensorflow-serving-api>=2.21,<2.22",
        "safetensors>=0.4,<1",
    ],
    extras_require={
        "dev": [
            "pytest>=8,<10",
            "hypothesis>=6.100,<7",
            "keras-hub>=0.32,<0.33",
            "rouge-score>=0.1.2,<0.2",
            "sacrebleu>=2.4,<3",
            "seqeval>=1.2,<2",
            "tensorflow-text>=2.21,<2.22",
            "tokenizers>=0.20,<1",
        ],
    },
    entry_points={
        "console_scripts": [
            "keras-llm-serve=keras_llm.serving.main:run",
            "keras-llm-demo=keras_llm.serving.demo:run",
            "keras-llm-check=keras_llm.check:run",
        ],
    },
)
