"""Fine-tuning run settings: one frozen dataclass, overridden by `finetune.a=value` strings.

The optimizer is the library's one AdamW + warmup/decay (`keras_llm.training.optimizer`); its
BERT fine-tuning defaults (beta_2 0.999, 10% warmup, linear decay to 0, global-norm clip 1.0)
are set here. Strategies and precisions are the pretraining trainer's.
"""
import dataclasses
from typing import Optional, Tuple

from keras_llm.training.config import PRECISIONS, STRATEGIES, OptimizerConfig

FINETUNE_OPTIMIZER = OptimizerConfig(learning_rate=5e-5, warmup_steps=0, decay="linear",
                                     weight_decay=0.01, beta_1=0.9, beta_2=0.999,
                                     epsilon=1e-6, clip_norm=1.0)


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    epochs: int = 1
    batch_size: int = 32                    # global batch (all replicas)
    max_steps: int = 0                      # 0: epochs x batches per epoch; else stop there
    optimizer: OptimizerConfig = FINETUNE_OPTIMIZER
    warmup_fraction: Optional[float] = 0.1  # of all steps; None: optimizer.warmup_steps
    bucket_boundaries: Tuple[int, ...] = (16, 32, 48, 64, 96, 128, 192, 256)  # () = fixed shape
    strategy: str = "one_device"
    tpu: str = ""
    precision: str = "float32"
    jit_compile: bool = False
    eval_every: int = 0                     # steps; 0: after each epoch only
    checkpoint_every: int = 200             # steps (and after each epoch)
    keep_checkpoints: int = 2
    log_every: int = 50                     # steps between plain log lines / history records
    seed: int = 0
    # LoRA (keras_llm.models.lora): rank > 0 trains low-rank adapters on the backbone's
    # `lora_targets` Dense layers plus the task head, the rest of the backbone frozen.
    lora_rank: int = 0                      # 0: full fine-tuning
    lora_alpha: float = 0.0                 # 0: 2 x rank (scale 2)
    lora_targets: Tuple[str, ...] = ("query", "value")


# Fields a restarted run may change without invalidating its checkpoints.
RESUMABLE_FIELDS = ("finetune.eval_every", "finetune.checkpoint_every", "finetune.log_every",
                    "finetune.keep_checkpoints", "finetune.tpu")


def validate(config: FinetuneConfig) -> FinetuneConfig:
    """Raises ValueError naming the first bad value."""
    if config.strategy not in STRATEGIES:
        raise ValueError(f"finetune.strategy={config.strategy!r} is not one of {STRATEGIES}.")
    if config.precision not in PRECISIONS:
        raise ValueError(f"finetune.precision={config.precision!r} is not one of {PRECISIONS}.")
    for key in ("epochs", "batch_size", "checkpoint_every", "log_every"):
        if getattr(config, key) <= 0:
            raise ValueError(f"finetune.{key}={getattr(config, key)} must be positive.")
    if config.lora_rank < 0 or config.lora_alpha < 0:
        raise ValueError(f"finetune.lora_rank={config.lora_rank} and finetune.lora_alpha="
                         f"{config.lora_alpha} must be >= 0.")
    if config.max_steps < 0 or config.eval_every < 0:
        raise ValueError("finetune.max_steps and finetune.eval_every must be >= 0.")
    if config.warmup_fraction is not None and not 0.0 <= config.warmup_fraction < 1.0:
        raise ValueError(f"finetune.warmup_fraction={config.warmup_fraction} must be in [0, 1).")
    if config.strategy == "tpu" and config.bucket_boundaries:
        raise ValueError("finetune.strategy=tpu needs finetune.bucket_boundaries=() (one shape).")
    return config
