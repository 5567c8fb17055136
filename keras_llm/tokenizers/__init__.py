"""keras_llm.tokenizers: tokenizers and packers in core TensorFlow ops (no tensorflow-text)."""
from keras_llm.tokenizers.packers import SegmentPacker
from keras_llm.tokenizers.packers import StartEndPacker
from keras_llm.tokenizers.wordpiece import WordPieceTokenizer
from keras_llm.tokenizers.wordpiece_trainer import train_wordpiece_vocabulary
from keras_llm.tokenizers.bpe_trainer import save_bpe
from keras_llm.tokenizers.bpe_trainer import train_bpe
from keras_llm.tokenizers.byte_pair import BytePairTokenizer
