"""tf.distribute strategy by name: one_device | mirrored | multi_worker_mirrored | tpu.

- mirrored: all local GPUs, else all logical CPU devices (`set_cpu_devices` splits the CPU,
  which is how this project tests data parallelism without accelerators).
- multi_worker_mirrored: cluster from the TF_CONFIG environment variable, one process per worker;
  every worker runs the same command (chief = task 0 writes checkpoints and logs).
- tpu: `TPUClusterResolver(tpu=name)`; needs a Cloud TPU VM or node (cannot run on this machine),
  fixed shapes and jit (XLA) are then implied.
"""
import json
import os

import tensorflow as tf
from absl import logging


def set_cpu_devices(count: int) -> None:
    """Split the host CPU into `count` logical devices; call before TensorFlow initialises."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker_mirrored":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy=multi_worker_mirrored needs the TF_CONFIG environment "
                             "variable (cluster and task of this worker).")
        json.loads(os.environ["TF_CONFIG"])  # a clear JSON error here beats one deep in TF
        options = tf.distribute.experimental.CommunicationOptions(
                implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        logging.info("TPU cores: %s", tf.config.list_logical_devices("TPU"))
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"strategy={name!r} is not one of one_device, mirrored, "
                     "multi_worker_mirrored, tpu.")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0)


def worker_id(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0)


def num_workers(strategy: tf.distribute.Strategy) -> int:
    return int(getattr(strategy.extended, "_num_workers", 1) or 1)
