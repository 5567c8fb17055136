"""absl flags shared by the sentiment scripts."""
from absl import flags

from apps.sentiment import config as config_lib


def define_config_flags():
    flags.DEFINE_enum("config", "small", sorted(config_lib.CONFIGS),
                      "Named config: minilm (fine-tune MiniLM-L6), small (8k-vocab 2x256 BERT), "
                      "tiny (tests).")
    flags.DEFINE_multi_string("override", [],
                              "Config overrides key=value, e.g. --override=train.epochs=2 "
                              "--override=model.num_layers=4.")
    flags.DEFINE_enum("host_tokenizer", "keras_llm", ["keras_llm", "huggingface"],
                      "Host-side tokenization for training: keras_llm's WordPieceTokenizer "
                      "(default) or the `tokenizers` package (reference, dev dependency).")
