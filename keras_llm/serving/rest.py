"""REST front end: /v1/models/... on a stdlib ThreadingHTTPServer.

Besides TF Serving's routes it serves GET /healthz (200 while serving, with
{"models": {name: true if a version is AVAILABLE}}; 503 while shutting down) and
the Prometheus path of --monitoring_config_file.

Bounds: a body over --max_request_bytes is refused (413) unread; a body that would pass
--max_bytes_in_flight is read, dropped and refused (429 busy, 413 if it can never fit); rows
are held against --max_rows_in_flight / --max_rows_per_request once the JSON is parsed.
"""
import contextlib
import http.server
import json
import re
import threading
import time

from google.protobuf import json_format
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import regression_pb2

from keras_llm.serving import errors
from keras_llm.serving import rest_json

_MODEL = r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
_POST = re.compile(_MODEL + r":(?P<verb>predict|classify|regress)$")
_GET = re.compile(_MODEL + r"(?P<metadata>/metadata)?$")


class RestApp:
    """Routes REST requests to a Service; returns (http status, content type, body bytes)."""

    def __init__(self, service, metrics, monitoring_path=None, timeout=30.0,
                 max_request_bytes=64 << 20):
        self.service = service
        self.metrics = metrics
        self.monitoring_path = monitoring_path
        self.timeout = timeout
        self.max_request_bytes = max_request_bytes
        self.inflight = 0
        self.inflight_cond = threading.Condition()
        self.closing = False

    def handle(self, method, path, body):
        path = path.split("?", 1)[0]
        if method == "GET" and path == self.monitoring_path:
            return 200, "text/plain; version=0.0.4", self.metrics.render().encode()
        if method == "GET" and path == "/healthz":
            models = self.service.manager.availability()
            status = "shutting down" if self.closing else "ok"
            return _json(503 if self.closing else 200, {"status": status, "models": models})
        route = _POST.match(path) if method == "POST" else _GET.match(path)
        if route is None or method not in ("GET", "POST"):
            return _json(400, {"error": f"Malformed request: {method} {path}"})
        api = route.groupdict().get("verb") or ("metadata" if route.group("metadata")
                                                 else "status")
        start, code = time.monotonic(), "OK"
        try:
            return _json(200, self._dispatch(api, route, body))
        except Exception as e:  # every failure becomes a JSON error body
            error = errors.from_exception(e)
            code = error.code
            return _json(error.http_status, {"error": error.message})
        finally:
            self.metrics.record(route.group("name"), api, "REST", code,
                                time.monotonic() - start)

    def _dispatch(self, api, route, body):
        name, label = route.group("name"), route.group("label")
        version = int(route.group("version")) if route.group("version") else None
        if api == "status":
            return self._status(name, version, label)
        if api == "metadata":
            return self._metadata(name, version, label)
        try:
            payload = json.loads(body or b"")
        except (ValueError, UnicodeDecodeError) as e:
            raise errors.invalid(f"JSON Parse error: {e}") from e
        if api == "predict":
            return self._predict(name, version, label, payload)
        return self._classify_or_regress(api, name, version, label, payload)

    def _predict(self, name, version, label, payload):
        signature_name = payload.get("signature_name", "") if isinstance(payload, dict) else ""
        if not isinstance(signature_name, str):
            raise errors.invalid("'signature_name' must be a string")
        with self.service.manager.acquire(name, version, label) as entry:
            key = signature_name or "serving_default"
            signature = entry.loaded.signatures.get(key)
            if signature is None:
                raise errors.invalid(f'Serving signature name: "{key}" not found in signature def')
            inputs, row_format = rest_json.parse_predict_body(payload, signature)
            outputs = self.service.run_predict(entry, signature, inputs, (), self.timeout)
        return rest_json.predict_response(outputs, row_format)

    def _classify_or_regress(self, api, name, version, label, payload):
        module = classification_pb2 if api == "classify" else regression_pb2
        request = (module.ClassificationRequest() if api == "classify"
                   else module.RegressionRequest())
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = version
        if label is not None:
            request.model_spec.version_label = label
        signature_name = payload.get("signature_name", "") if isinstance(payload, dict) else ""
        if not isinstance(signature_name, str):
            raise errors.invalid("'signature_name' must be a string")
        request.model_spec.signature_name = signature_name
        rest_json.fill_input(request.input, payload)
        if api == "classify":
            response = self.service.classify(request)
            return {"results": [[[c.label, c.score] for c in row.classes]
                                for row in response.result.classifications]}
        response = self.service.regress(request)
        return {"results": [r.value for r in response.result.regressions]}

    def _status(self, name, version, label):
        request = get_model_status_pb2.GetModelStatusRequest()
        _spec(request.model_spec, name, version, label)
        response = self.service.status(request)
        return json_format.MessageToDict(response, always_print_fields_with_no_presence=True,
                                         preserving_proto_field_name=True)

    def _metadata(self, name, version, label):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        _spec(request.model_spec, name, version, label)
        response = self.service.metadata(request)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        to_dict = lambda m: json_format.MessageToDict(
                m, always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
        return {"model_spec": to_dict(response.model_spec),
                "metadata": {"signature_def": to_dict(sig_map)}}


def _spec(model_spec, name, version, label):
    model_spec.name = name
    if version is not None:
        model_spec.version.value = version
    if label is not None:
        model_spec.version_label = label


def _json(status, obj):
    return status, "application/json", json.dumps(obj).encode("utf-8")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "keras-llm-serve"
    app = None  # set by make_server

    def log_message(self, fmt, *args):  # quiet: access logs would flood under load
        pass

    def _serve(self, method):
        app = self.app
        with app.inflight_cond:
            app.inflight += 1
        try:
            if app.closing:
                status, ctype, body = _json(503, {"error": "server is shutting down"})
                self.close_connection = True
            else:
                status, ctype, body = self._answer(method)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with app.inflight_cond:
                app.inflight -= 1
                app.inflight_cond.notify_all()

    def _answer(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.app.max_request_bytes:
            self.close_connection = True
            return _json(413, {"error": f"Request body of {length} bytes exceeds the limit of "
                                        f"{self.app.max_request_bytes} bytes "
                                        "(--max_request_bytes)"})
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(self.app.service.admission.admit(nbytes=length))
            except errors.ServingError as e:    # refused before the body is read
                self._discard(length)
                return _json(e.http_status, {"error": e.message})
            body = self.rfile.read(length) if length else b""
            return self.app.handle(method, self.path, body)

    def _discard(self, length, piece=1 << 20):
        """Reads and drops a refused request's body, so the client gets its answer on a
        clean connection (a body left unread would make its send fail)."""
        while length > 0:
            data = self.rfile.read(min(piece, length))
            if not data:
                break
            length -= len(data)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")


def start(app, host, port):
    """Serves `app` on host:port in a background thread; returns (server, bound port)."""
    handler = type("Handler", (_Handler,), {"app": app})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="rest").start()
    return server, server.server_address[1]


def drain(app, timeout):
    """Waits until no REST request is in flight (or `timeout` seconds pass)."""
    deadline = time.monotonic() + timeout
    with app.inflight_cond:
        while app.inflight and time.monotonic() < deadline:
            app.inflight_cond.wait(max(deadline - time.monotonic(), 0.01))
        return app.inflight == 0
