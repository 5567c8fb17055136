"""keras_llm.training: input pipelines, objectives and `train(config, workdir)`."""
from keras_llm.training.checkpoint import CheckpointError
from keras_llm.training.config import (CONFIGS, DataConfig, ModelConfig, OptimizerConfig,
                                       TokenizerConfig, TrainConfig, get_config, override)
from keras_llm.training.models import register_model
from keras_llm.training.trainer import TrainResult, train

__all__ = ["CONFIGS", "CheckpointError", "DataConfig", "ModelConfig", "OptimizerConfig",
           "TokenizerConfig", "TrainConfig", "TrainResult", "get_config", "override",
           "register_model", "train"]
