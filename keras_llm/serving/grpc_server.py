"""gRPC front end: tensorflow.serving.PredictionService and ModelService.

Built on grpc.aio: one event-loop thread receives every RPC, decodes it and encodes the
answer. A batched Predict then waits on its batch's future without holding a thread, so 32
concurrent clients cost 32 coroutines, not 32 threads trading the GIL. Work that blocks
(unbatched model calls, Classify/Regress, status, config reloads) runs on a thread pool of
`workers` threads; TensorFlow releases the GIL while it computes, so those calls overlap.
Messages over --max_request_bytes are refused by gRPC itself (RESOURCE_EXHAUSTED); a received
request holds its size in bytes against --max_bytes_in_flight until it is answered.
"""
import asyncio
import functools
import threading
import time
from concurrent import futures

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from keras_llm.serving import errors


def _model_name(request):
    if hasattr(request, "model_spec"):
        return request.model_spec.name
    if hasattr(request, "tasks"):            # MultiInferenceRequest: the first task's model
        return request.tasks[0].model_spec.name if request.tasks else ""
    return ""


def _handler(api, method):
    """Wraps a Service method: status codes from ServingError, metrics, deadline."""

    async def handle(self, request, context):
        start = time.monotonic()
        code = "OK"
        try:
            timeout = context.time_remaining()
            with self.service.admission.admit(nbytes=request.ByteSize()):
                if api == "predict":
                    return await self.service.predict_async(request, timeout, self.executor)
                return await asyncio.get_running_loop().run_in_executor(
                        self.executor, functools.partial(getattr(self.service, method),
                                                         request))
        except Exception as e:  # every failure becomes a status, never a crash
            error = errors.from_exception(e)
            code = error.code
            await context.abort(error.grpc_code, error.message)
        finally:
            self.metrics.record(_model_name(request), api, "GRPC", code,
                                time.monotonic() - start)

    return handle


class _Servicer:
    def __init__(self, service, metrics, executor):
        self.service = service
        self.metrics = metrics
        self.executor = executor


class PredictionServicer(_Servicer, prediction_service_pb2_grpc.PredictionServiceServicer):
    Predict = _handler("predict", "predict")
    Classify = _handler("classify", "classify")
    Regress = _handler("regress", "regress")
    MultiInference = _handler("multi_inference", "multi_inference")
    GetModelMetadata = _handler("metadata", "metadata")


class ModelServicer(_Servicer, model_service_pb2_grpc.ModelServiceServicer):
    GetModelStatus = _handler("status", "status")
    HandleReloadConfigRequest = _handler("reload", "reload")


class GrpcServer:
    """A grpc.aio server running on its own event-loop thread (the rest of the process
    stays synchronous). `stop(grace)` blocks until in-flight RPCs finish or grace ends."""

    def __init__(self, service, metrics, address, max_request_bytes, workers):
        self._executor = futures.ThreadPoolExecutor(max_workers=workers,
                                                    thread_name_prefix="grpc-work")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="grpc-loop",
                                        daemon=True)
        self._thread.start()
        try:
            self._server, self.port = self._call(self._start(
                    service, metrics, address, max_request_bytes))
        except BaseException:
            self._close_loop()
            self._executor.shutdown(wait=False)
            raise

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _start(self, service, metrics, address, max_request_bytes):
        options = [("grpc.max_receive_message_length", max_request_bytes),
                   ("grpc.max_send_message_length", -1),
                   ("grpc.so_reuseport", 0)]
        server = grpc.aio.server(options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
                PredictionServicer(service, metrics, self._executor), server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
                ModelServicer(service, metrics, self._executor), server)
        try:
            port = server.add_insecure_port(address)
        except RuntimeError:    # grpc.aio raises where grpc returns 0
            port = 0
        if port == 0:
            raise ValueError(f"cannot bind the gRPC server to {address}")
        await server.start()
        return server, port

    def stop(self, grace):
        """Refuses new RPCs, waits up to `grace` seconds for running ones, then closes."""
        try:
            self._call(self._server.stop(grace))
        finally:
            self._close_loop()
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _close_loop(self):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def start(service, metrics, address, max_request_bytes, workers=32):
    """Starts a gRPC server on `address` (host:port); returns (GrpcServer, bound port)."""
    server = GrpcServer(service, metrics, address, max_request_bytes, workers)
    return server, server.port
