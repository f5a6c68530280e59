"""Errors raised while reading an OTLP/HTTP request, each mapped to the status the spec asks for.

    DecodeError            base; carries ``status``
    ├── MalformedPayload   400: not valid protobuf/JSON, bad gzip, wrong shape
    ├── PayloadTooLarge    413: body (compressed or decompressed) over the limit
    └── UnsupportedMedia   415: content type or encoding we do not speak
"""

from __future__ import annotations


class DecodeError(Exception):
    """A request body that cannot be accepted; ``status`` is the HTTP status to answer."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedPayload(DecodeError):
    """The body is not a valid OTLP message in the declared encoding."""

    status = 400


class PayloadTooLarge(DecodeError):
    """The body, or what it decompresses to, is over the configured limit."""

    status = 413


class UnsupportedMedia(DecodeError):
    """Content-Type or Content-Encoding that OTLP/HTTP does not define."""

    status = 415
