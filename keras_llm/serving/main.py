"""keras-llm-serve: a local TensorFlow Serving (gRPC + REST) for SavedModel folders.

Takes tensorflow_model_server's flags and reads the same model folders
(BASE_PATH/<version>/saved_model.pb) and config files, so clients written against it
work unchanged against stock TF Serving.

  keras-llm-serve --port=8500 --rest_api_port=8501 \\
      --model_name=sentiment --model_base_path=$PWD/saved_models/sentiment
  keras-llm-serve --port=8500 --rest_api_port=8501 --model_config_file=models.config

Beyond stock: servers bind 127.0.0.1 unless --grpc_bind_address / --rest_api_bind_address
say otherwise (stock binds all interfaces); GET /healthz on the REST port;
--max_request_bytes caps request size (gRPC RESOURCE_EXHAUSTED, REST 413);
input shapes are checked (INVALID_ARGUMENT naming the input).
SIGTERM / SIGINT: stop accepting, finish in-flight requests, exit 0.
"""
import os
import signal
import sys
import threading

from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS
flags.DEFINE_integer("port", 8500, "gRPC port (0 = pick a free port; see --port_file).")
flags.DEFINE_integer("rest_api_port", 0, "REST port; 0 disables REST (as in stock TF Serving).")
flags.DEFINE_string("grpc_bind_address", "127.0.0.1",
                    "Interface for gRPC (keras-llm-serve only; 0.0.0.0 = all, as stock).")
flags.DEFINE_string("rest_api_bind_address", "127.0.0.1",
                    "Interface for REST (keras-llm-serve only; 0.0.0.0 = all, as stock).")
flags.DEFINE_string("model_name", "default", "Model name when --model_base_path is used.")
flags.DEFINE_string("model_base_path", "", "Folder holding <version>/saved_model.pb folders.")
flags.DEFINE_string("model_config_file", "",
                    "model_config_list text proto (ModelServerConfig); overrides "
                    "--model_name/--model_base_path.")
flags.DEFINE_integer("model_config_file_poll_wait_seconds", 0,
                     "Re-read --model_config_file every N seconds (0 = read once); a file "
                     "that does not parse is logged and the last good config kept.")
flags.DEFINE_integer("file_system_poll_wait_seconds", 1,
                     "Poll base paths for new/removed versions every N seconds (0 = once).")
flags.DEFINE_bool("enable_batching", False, "Batch concurrent Predict requests.")
flags.DEFINE_string("batching_parameters_file", "",
                    "BatchingParameters text proto (max_batch_size { value: 32 } ...).")
flags.DEFINE_string("monitoring_config_file", "",
                    "MonitoringConfig text proto: prometheus_config { enable: true path: ... }.")
flags.DEFINE_integer("rest_api_timeout_in_ms", 30000, "REST request timeout.")
flags.DEFINE_integer("max_request_bytes", 64 << 20,
                     "Largest accepted request: REST body or gRPC message (gRPC's receive "
                     "limit follows it); larger is refused with REST 413 / gRPC "
                     "RESOURCE_EXHAUSTED (keras-llm-serve only).")
flags.DEFINE_integer("max_bytes_in_flight", 256 << 20,
                     "Request bytes held at once by all requests being served; a request "
                     "that would pass it is refused: REST 429 (413 if it alone is larger), "
                     "gRPC RESOURCE_EXHAUSTED (keras-llm-serve only).")
flags.DEFINE_integer("max_rows_per_request", 4096,
                     "Rows (instances, examples) one request may carry; more is refused: "
                     "REST 413, gRPC RESOURCE_EXHAUSTED (keras-llm-serve only).")
flags.DEFINE_integer("max_rows_in_flight", 16384,
                     "Rows held at once by all requests being served; a request that would "
                     "pass it is refused: REST 429, gRPC RESOURCE_EXHAUSTED "
                     "(keras-llm-serve only).")
flags.DEFINE_integer("max_rows_per_model_call", 64,
                     "Without --enable_batching, a request of more rows runs through the "
                     "model in calls of at most this many rows (with batching, "
                     "max_batch_size plays this part), so model memory follows the "
                     "configuration, not the request (keras-llm-serve only).")
flags.DEFINE_integer("grpc_max_threads", 32,
                     "Worker threads for blocking gRPC work: unbatched model calls, Classify, "
                     "Regress, status and reloads (keras-llm-serve only; batched Predict "
                     "requests wait without a thread).")
flags.DEFINE_integer("tensorflow_session_parallelism", 0,
                     "Threads for running TensorFlow ops: sets both the intra-op and the "
                     "inter-op pool (0 = auto, one per core). Ignored when "
                     "--tensorflow_intra_op_parallelism or "
                     "--tensorflow_inter_op_parallelism is set.")
flags.DEFINE_integer("tensorflow_intra_op_parallelism", 0,
                     "Threads that split one op (a matmul) between them (0 = auto).")
flags.DEFINE_integer("tensorflow_inter_op_parallelism", 0,
                     "Ops that may run at the same time (0 = auto). On a 2-core machine, "
                     "intra 1 and inter 1 served 1.3x the batched requests/s of auto "
                     "(benchmarks/results/serve_threads.md).")
flags.DEFINE_string("port_file", "",
                    "Write 'GRPC_PORT REST_PORT' here once serving (keras-llm-serve only; "
                    "useful with --port=0).")
flags.DEFINE_integer("shutdown_grace_seconds", 30, "Time allowed for in-flight requests.")


def _config_source():
    """(initial ModelConfigList, ModelConfigFileWatcher or None)."""
    from keras_llm.serving import config as config_lib
    if FLAGS.model_config_file:
        watcher = config_lib.ModelConfigFileWatcher(FLAGS.model_config_file)
        return watcher.load(), watcher
    if not FLAGS.model_base_path:
        raise app.UsageError("give --model_base_path or --model_config_file")
    return config_lib.single_model_config(FLAGS.model_name,
                                          os.path.abspath(FLAGS.model_base_path)), None


def serve():
    """Starts everything, blocks until SIGTERM/SIGINT, then shuts down gracefully."""
    from keras_llm.serving import server
    try:
        config_list, watcher = _config_source()
        options = server.ServerOptions.from_flags(FLAGS, config_list)
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    running = server.ModelServer(options)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    running.start()
    poll = FLAGS.file_system_poll_wait_seconds
    config_poll = FLAGS.model_config_file_poll_wait_seconds
    ticks = 0
    while not stop.wait(1.0):
        ticks += 1
        if poll > 0 and ticks % poll == 0:
            running.manager.poll()
        if watcher is not None and config_poll > 0 and ticks % config_poll == 0:
            _reload_config_file(watcher, running)
    logging.info("Shutting down: finishing in-flight requests")
    clean = running.stop(FLAGS.shutdown_grace_seconds)
    return 0 if clean else 1


def _reload_config_file(watcher, running):
    try:
        watcher.poll(running.manager.set_config)
    except Exception as e:  # never let a config change stop the server
        logging.exception("applying model config file %s failed: %s", watcher.path, e)


def _main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    sys.exit(serve())


def run():
    """Console script entry point (keras-llm-serve): --help exits 0, usage errors are one line."""
    from keras_llm.utils import cli  # pylint: disable=import-outside-toplevel
    cli.quiet_tensorflow()
    import keras_llm  # noqa: F401  (TensorFlow backend before anything imports keras)
    cli.run(_main)


if __name__ == "__main__":
    run()
