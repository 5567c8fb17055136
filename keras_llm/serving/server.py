"""ModelServer: wires the model manager, gRPC and REST front ends together."""
import dataclasses

from absl import logging

from keras_llm.serving import admission
from keras_llm.serving import config as config_lib
from keras_llm.serving import grpc_server
from keras_llm.serving import manager as manager_lib
from keras_llm.serving import metrics as metrics_lib
from keras_llm.serving import rest
from keras_llm.serving import service as service_lib


@dataclasses.dataclass
class ServerOptions:
    config_list: object
    grpc_address: str = "127.0.0.1:8500"
    rest_host: str = "127.0.0.1"
    rest_port: int = 0                 # 0 = REST off
    batching: object = None            # config.BatchingConfig or None
    monitoring_path: str = None
    rest_timeout: float = 30.0
    max_request_bytes: int = 64 << 20
    grpc_threads: int = 32
    port_file: str = ""
    intra_op_threads: int = 0          # 0 = TensorFlow's default (one per core)
    inter_op_threads: int = 0
    limits: admission.Limits = dataclasses.field(default_factory=admission.Limits)

    @classmethod
    def from_flags(cls, flags, config_list):
        batching = None
        if flags.enable_batching:
            batching = config_lib.read_batching_parameters(flags.batching_parameters_file)
        return cls(config_list=config_list,
                   grpc_address=f"{flags.grpc_bind_address}:{flags.port}",
                   rest_host=flags.rest_api_bind_address,
                   rest_port=flags.rest_api_port,
                   batching=batching,
                   monitoring_path=config_lib.read_monitoring_path(flags.monitoring_config_file),
                   rest_timeout=flags.rest_api_timeout_in_ms / 1000.0,
                   max_request_bytes=flags.max_request_bytes,
                   grpc_threads=flags.grpc_max_threads,
                   port_file=flags.port_file,
                   limits=admission.Limits(
                           max_rows_per_request=flags.max_rows_per_request,
                           max_rows_in_flight=flags.max_rows_in_flight,
                           max_bytes_in_flight=flags.max_bytes_in_flight,
                           max_rows_per_model_call=flags.max_rows_per_model_call),
                   **thread_pools(flags.tensorflow_session_parallelism,
                                  flags.tensorflow_intra_op_parallelism,
                                  flags.tensorflow_inter_op_parallelism))


def thread_pools(session, intra, inter):
    """tensorflow_model_server's rules for its three thread flags -> ServerOptions fields:
    all three set is an error; intra or inter set wins over session; else session sets both
    (0 = auto)."""
    for name, value in (("tensorflow_session_parallelism", session),
                        ("tensorflow_intra_op_parallelism", intra),
                        ("tensorflow_inter_op_parallelism", inter)):
        if value < 0:
            raise ValueError(f"--{name} must be >= 0 (0 = auto), got {value}")
    if session > 0 and intra > 0 and inter > 0:
        raise ValueError("Either configure --tensorflow_session_parallelism or "
                         "(--tensorflow_intra_op_parallelism, "
                         "--tensorflow_inter_op_parallelism) separately. "
                         "You cannot configure all.")
    if intra > 0 or inter > 0:
        return {"intra_op_threads": intra, "inter_op_threads": inter}
    return {"intra_op_threads": session, "inter_op_threads": session}


def configure_thread_pools(intra, inter):
    """Sizes TensorFlow's op thread pools (0 = leave TensorFlow's default). They exist once
    TensorFlow has run its first op, so this must come before any model is loaded."""
    import tensorflow as tf
    for value, getter, setter, what in (
            (intra, tf.config.threading.get_intra_op_parallelism_threads,
             tf.config.threading.set_intra_op_parallelism_threads, "intra-op"),
            (inter, tf.config.threading.get_inter_op_parallelism_threads,
             tf.config.threading.set_inter_op_parallelism_threads, "inter-op")):
        if value <= 0 or getter() == value:
            continue
        try:
            setter(value)
        except RuntimeError as e:
            raise ValueError(f"cannot set TensorFlow's {what} threads to {value}: TensorFlow "
                             "already started in this process (set them before loading "
                             "any model)") from e
    logging.info("TensorFlow thread pools: intra-op %s, inter-op %s",
                 *(n or "auto" for n in (tf.config.threading.get_intra_op_parallelism_threads(),
                                         tf.config.threading.get_inter_op_parallelism_threads())))


class ModelServer:
    def __init__(self, options):
        self.options = options
        self.metrics = metrics_lib.Metrics()
        self.manager = manager_lib.ModelManager(batching_config=options.batching)
        self.service = service_lib.Service(self.manager, options.batching is not None,
                                           options.limits)
        self.manager._warmup_predict = self.service.warmup_predict
        self.grpc = self.rest = self.rest_app = None
        self.grpc_port = self.rest_port = None

    def start(self):
        """Loads the models, then opens the ports (clients never see a half-started server)."""
        o = self.options
        configure_thread_pools(o.intra_op_threads, o.inter_op_threads)
        self.manager.set_config(o.config_list)
        self.grpc, self.grpc_port = grpc_server.start(self.service, self.metrics,
                                                      o.grpc_address, o.max_request_bytes,
                                                      o.grpc_threads)
        logging.info("gRPC serving on %s (port %d)", o.grpc_address, self.grpc_port)
        if o.rest_port:
            self.rest_app = rest.RestApp(self.service, self.metrics, o.monitoring_path,
                                         o.rest_timeout, o.max_request_bytes)
            port = 0 if o.rest_port < 0 else o.rest_port
            self.rest, self.rest_port = rest.start(self.rest_app, o.rest_host, port)
            logging.info("REST serving on %s:%d", o.rest_host, self.rest_port)
        if o.port_file:
            with open(o.port_file + ".tmp", "w") as f:
                f.write(f"{self.grpc_port} {self.rest_port or 0}\n")
            import os
            os.replace(o.port_file + ".tmp", o.port_file)

    def stop(self, grace):
        """Stops accepting, lets in-flight requests finish; True if all finished."""
        clean = True
        if self.rest is not None:
            self.rest_app.closing = True
            self.rest.shutdown()
            clean = rest.drain(self.rest_app, grace)
        if self.grpc is not None:
            self.grpc.stop(grace)
        logging.info("Server stopped (%s)", "clean" if clean else "requests cut off")
        return clean
