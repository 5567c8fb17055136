"""keras-llm-check PATH [PATH ...]: will stock TF Serving serve these SavedModels?

    keras-llm-check saved_models/sentiment/2        # a version folder
    keras-llm-check saved_models/sentiment          # a base path: its newest version

For each model: lists the graph's ops, flags those outside core TensorFlow, names the stock TF
Serving releases able to load it, and runs every signature once (warmup requests, then edge
cases). Exit status 1 if any model has a problem (see keras_llm/export/check.py).
"""
from keras_llm.utils import cli

cli.quiet_tensorflow()


def main(argv):
    from keras_llm.export.check import run as check_paths  # pylint: disable=import-outside-toplevel
    return check_paths(argv[1:])


def run():
    """Console script entry point (keras-llm-check)."""
    cli.run(main)


if __name__ == "__main__":
    run()
