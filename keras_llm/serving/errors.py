"""Status codes and messages shared by the gRPC and REST front ends.

Codes are the names of `grpc.StatusCode` (and of `tensorflow.error.Code`), so one
`ServingError` can be turned into a gRPC status, an HTTP status, or a StatusProto.
"""
import grpc

MAX_MESSAGE_CHARS = 1024
_TRUNCATED = "...TRUNCATED"

# gRPC code -> HTTP status, as in tensorflow_serving/model_servers/http_rest_api_util.cc.
HTTP_STATUS = {
        "OK": 200,
        "INVALID_ARGUMENT": 400,
        "FAILED_PRECONDITION": 400,
        "OUT_OF_RANGE": 400,
        "NOT_FOUND": 404,
        "DEADLINE_EXCEEDED": 504,
        "RESOURCE_EXHAUSTED": 429,
        "UNIMPLEMENTED": 501,
        "UNAVAILABLE": 503,
        "UNAUTHENTICATED": 401,
        "PERMISSION_DENIED": 403,
        "ALREADY_EXISTS": 409,
        "ABORTED": 409,
        "CANCELLED": 499,
}

# tensorflow.error.Code numbers (also grpc.StatusCode value[0]).
CODE_NUMBER = {code.name: code.value[0] for code in grpc.StatusCode}
CODE_NAME = {number: name for name, number in CODE_NUMBER.items()}


def truncate(message):
    """Cuts messages the way TF Serving does (1024 chars, ending in ...TRUNCATED)."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[:MAX_MESSAGE_CHARS - len(_TRUNCATED)] + _TRUNCATED


class ServingError(Exception):
    """A request failure with a gRPC-style code name and a user-facing message."""

    def __init__(self, code, message, http_status=None):
        if code not in CODE_NUMBER:
            raise ValueError(f"unknown status code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = truncate(message)
        self._http_status = http_status

    @property
    def http_status(self):
        """The HTTP status (the one received, for errors from a REST server)."""
        return self._http_status or HTTP_STATUS.get(self.code, 500)

    @property
    def grpc_code(self):
        return getattr(grpc.StatusCode, self.code)


def invalid(message):
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message):
    return ServingError("NOT_FOUND", message)


def from_exception(exc):
    """Maps any exception raised while running a model to a ServingError."""
    if isinstance(exc, ServingError):
        return exc
    import tensorflow as tf
    if isinstance(exc, tf.errors.OpError):
        name = CODE_NAME.get(exc.error_code, "UNKNOWN")
        return ServingError(name, exc.message)
    if isinstance(exc, (ValueError, TypeError, OverflowError)):
        return invalid(str(exc))
    return ServingError("INTERNAL", f"{type(exc).__name__}: {exc}")


def code_from_http(status):
    """Best guess of the gRPC code behind an HTTP status (400 -> INVALID_ARGUMENT; 413,
    keras-llm-serve's "request too large", -> RESOURCE_EXHAUSTED)."""
    if status == 413:
        return "RESOURCE_EXHAUSTED"
    for code, http in HTTP_STATUS.items():
        if http == status:
            return code
    return "UNKNOWN" if status >= 400 else "OK"
