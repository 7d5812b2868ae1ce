"""Connector faults, each marked retryable or permanent for the outbox.

They extend `common.operations.RetryableError` / `PermanentError`, so the engine
needs to know nothing about them; the subclasses only give callers (and tests)
a precise type and a stable machine `code`.
"""

from __future__ import annotations

from typing import Any

from common.operations import PermanentError, RetryableError


class _HttpFaultMixin:
    http_status: int | None = None


class ConnectorTimeout(_HttpFaultMixin, RetryableError):
    code = "connector_timeout"


class ConnectorUnavailable(_HttpFaultMixin, RetryableError):
    """Network failure, 5xx or 429: the platform is down or busy, try again later."""

    code = "connector_unavailable"


class UnexpectedContentType(_HttpFaultMixin, RetryableError):
    # Retryable: in practice a 200 text/html answer is a gateway's maintenance page.
    code = "unexpected_content_type"


class ResponseTooLarge(_HttpFaultMixin, PermanentError):
    code = "response_too_large"


class PlatformRefused(_HttpFaultMixin, PermanentError):
    """The platform answered 4xx: the request itself is wrong, no retry will fix it."""

    code = "platform_refused"


class InvalidResponse(_HttpFaultMixin, PermanentError):
    """The answer does not parse or does not match the platform's published contract."""

    code = "invalid_response"


class InvalidRequest(PermanentError):
    """Our own request would break the platform's contract; refused before sending."""

    code = "invalid_request"


class UnsafeXml(PermanentError):
    code = "unsafe_xml"


class MalformedXml(PermanentError):
    code = "malformed_xml"


class XmlSchemaInvalid(PermanentError):
    code = "xml_schema_invalid"


def with_status(err: Any, status: int | None) -> Any:
    err.http_status = status
    return err
