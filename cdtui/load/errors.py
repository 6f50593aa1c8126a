"""How a load request fails, in the kinds results count: status, timeout, refused, reset."""

from __future__ import annotations

import errno
import os

ERROR_KINDS = ("status", "timeout", "refused", "reset", "other")
"""How a request can fail; ``status`` is an answer of 400 or more."""


class RequestError(Exception):
    """A request got no usable answer; ``kind`` is one of ERROR_KINDS."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def error_kind(error: BaseException) -> str:
    if isinstance(error, RequestError):
        return error.kind
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(error, OSError) and error.errno in (errno.ECONNREFUSED,):
        return "refused"
    return "other"


def describe_error(error: BaseException) -> str:
    """``connection refused``, ``no answer within the timeout``: the cause, in words."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno).lower()
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__
