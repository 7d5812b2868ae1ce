"""One HTTP client for every REST/SOAP/multipart platform.

Every connector talks through `HttpClient`, so timeouts, size limits,
content-type checks, the retryable/permanent split and secret masking are the
same everywhere. Responses are streamed and counted: a platform (or a man in the
middle) cannot make us buffer an unbounded body.

Observers (`observe_exchanges`) receive every request/response pair with secrets
already masked; `manage.py connector_call` uses them to print what went over the
wire. The same masked exchange is logged at DEBUG on `connectors.http`.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.utils.translation import gettext as _

from common.errors import ConfigurationError

from .errors import (
    ConnectorTimeout,
    ConnectorUnavailable,
    InvalidResponse,
    PlatformRefused,
    ResponseTooLarge,
    UnexpectedContentType,
    with_status,
)

logger = logging.getLogger("connectors.http")

MASK = "***"
# Headers that carry credentials on the platforms we speak to (ModI, App IO, SEND, PDND).
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "ocp-apim-subscription-key",
        "x-api-key",
        "agid-jwt-signature",
        "agid-jwt-trackingevidence",
    }
)
# JSON/form fields whose value is a secret whatever the platform.
SENSITIVE_FIELDS = frozenset({"password", "client_secret", "client_assertion", "access_token", "apikey", "api_key"})
LOG_BODY_LIMIT = 4000

JSON_TYPES = ("application/json", "application/problem+json")
XML_TYPES = ("application/xml", "text/xml", "application/soap+xml")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: httpx.Headers
    content: bytes
    url: str

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return jsonlib.loads(self.content)
        except ValueError as exc:
            raise with_status(
                InvalidResponse(_("La risposta del servizio non è un JSON valido."), details={"url": self.url}),
                self.status,
            ) from exc


@dataclass
class Exchange:
    """One request/response pair with secrets masked, for operators and logs."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    error: str | None = None
    elapsed_ms: int | None = None


_observers: list[Callable[[Exchange], None]] = []
_observers_lock = threading.Lock()


@contextlib.contextmanager
def observe_exchanges(callback: Callable[[Exchange], None]) -> Iterator[None]:
    """Call `callback` with every masked exchange made while the block runs (any thread)."""
    with _observers_lock:
        _observers.append(callback)
    try:
        yield
    finally:
        with _observers_lock:
            _observers.remove(callback)


def _notify(exchange: Exchange) -> None:
    with _observers_lock:
        observers = list(_observers)
    for callback in observers:
        try:
            callback(exchange)
        except Exception:  # an observer must never break a call
            logger.exception("exchange observer failed")


def mask_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, MASK)
    # Field-level masking for JSON bodies and form posts we do not know the secrets of.
    for name in SENSITIVE_FIELDS:
        text = re.sub(rf'("{name}"\s*:\s*")[^"]*(")', rf"\1{MASK}\2", text, flags=re.IGNORECASE)
        text = re.sub(rf"(\b{name}=)[^&\s]*", rf"\1{MASK}", text, flags=re.IGNORECASE)
    return text


def mask_headers(headers: Mapping[str, str], secrets: Iterable[str]) -> dict[str, str]:
    secrets = list(secrets)
    return {
        name: (MASK if name.lower() in SENSITIVE_HEADERS else mask_text(value, secrets))
        for name, value in headers.items()
    }


def _preview(body: bytes | None, secrets: Iterable[str]) -> str:
    if not body:
        return ""
    text = body[:LOG_BODY_LIMIT].decode("utf-8", errors="replace")
    if len(body) > LOG_BODY_LIMIT:
        text += f"... [{len(body)} bytes]"
    return mask_text(text, secrets)


def parse_problem(response: HttpResponse) -> tuple[str | None, str | None, Any]:
    """(platform code, human detail, raw) from an error body.

    RFC 7807 problem+json is what pagoPA, App IO and SEND send; SEND adds
    `errors[].code` (e.g. PN_GENERIC_INVALIDPARAMETER), which is the most precise
    code, so it wins over `type`/`title`.
    """
    if response.content_type not in JSON_TYPES and not response.content_type.endswith("+json"):
        snippet = response.text[:300].strip() or None
        return None, snippet, snippet
    try:
        body = jsonlib.loads(response.content)
    except ValueError:
        return None, response.text[:300].strip() or None, None
    if not isinstance(body, dict):
        return None, None, body
    code: str | None = None
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("code"):
        code = str(errors[0]["code"])
    elif body.get("type") and body.get("type") != "about:blank":
        code = str(body["type"])
    elif body.get("code"):
        code = str(body["code"])
    elif body.get("title"):
        code = str(body["title"])
    detail = body.get("detail") or body.get("title") or body.get("message")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("detail"):
        detail = f"{detail}: {errors[0]['detail']}" if detail else errors[0]["detail"]
    return code, (str(detail) if detail else None), body


class HttpClient:
    """HTTP to one platform base URL.

    - network errors, timeouts, 5xx and 429 raise `RetryableError` subclasses;
    - other 4xx raise `PlatformRefused` (permanent) with the platform's code,
      unless the status is in `allowed_statuses` (e.g. App IO's 404 "not on IO");
    - bodies over `max_response_bytes` and unexpected content types are refused.
    """

    def __init__(
        self,
        base_url: str,
        *,
        platform: str = "",
        timeout: tuple[float, float] = (5.0, 30.0),
        max_response_bytes: int = 5 * 1024 * 1024,
        default_headers: Mapping[str, str] | None = None,
        secrets_to_mask: Iterable[str] = (),
        total_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
        client_cert: tuple[str, str] | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.platform = platform or self.base_url
        connect, read = timeout
        self.timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        # httpx's read timeout is per chunk; a server dripping bytes is cut by the total.
        self.total_timeout = total_timeout if total_timeout is not None else connect + 2 * read
        self.max_response_bytes = max_response_bytes
        self.default_headers = dict(default_headers or {})
        self.secrets = [s for s in secrets_to_mask if s]
        # A credential header's value is a secret wherever it shows up (an echo in a body, an error).
        self.secrets += [v for k, v in self.default_headers.items() if k.lower() in SENSITIVE_HEADERS and v]
        verify: bool | ssl.SSLContext = True
        if client_cert or ca_file:
            # Mutual TLS (ANPR's SOAP channel authenticates the comune's workstation certificate)
            # and/or a private CA for the platform's server certificate.
            verify = ssl.create_default_context(cafile=ca_file)
            if client_cert:
                try:
                    verify.load_cert_chain(*client_cert)
                except (OSError, ssl.SSLError) as exc:
                    raise ConfigurationError(
                        _("Il certificato client per %(platform)s non è leggibile: %(error)s")
                        % {"platform": self.platform, "error": exc}
                    ) from exc
        self._client = httpx.Client(timeout=self.timeout, transport=transport, follow_redirects=False,
                                    verify=verify)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        expected_content_types: Collection[str] = JSON_TYPES,
        allowed_statuses: Collection[int] = (),
    ) -> HttpResponse:
        url = self.url_for(path)
        merged = {**self.default_headers, **(headers or {})}
        secrets = self.secrets + [v for k, v in (headers or {}).items() if k.lower() in SENSITIVE_HEADERS and v]
        request = self._client.build_request(
            method, url, json=json, content=content, data=data, files=files, params=params, headers=merged
        )
        if files:
            body_preview = f"[multipart: fields {sorted((data or {}).keys())}, files {sorted(files.keys())}]"
        else:
            body_preview = _preview(request.content, secrets)
        exchange = Exchange(
            method=method.upper(),
            url=str(request.url),
            request_headers=mask_headers(dict(request.headers), secrets),
            request_body=body_preview,
        )
        started = time.monotonic()
        try:
            response = self._send(request, exchange, started, secrets)
        except Exception as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            exchange.elapsed_ms = int((time.monotonic() - started) * 1000)
            self._record(exchange)
            raise
        exchange.elapsed_ms = int((time.monotonic() - started) * 1000)
        self._record(exchange)
        self._check(response, expected_content_types, allowed_statuses)
        return response

    def _send(
        self, request: httpx.Request, exchange: Exchange, started: float, secrets: list[str]
    ) -> HttpResponse:
        try:
            raw = self._client.send(request, stream=True)
            try:
                exchange.status = raw.status_code
                exchange.response_headers = mask_headers(dict(raw.headers), secrets)
                declared = raw.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
                    raise self._too_large(raw.status_code, int(declared))
                chunks: list[bytes] = []
                size = 0
                for chunk in raw.iter_bytes():
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        raise self._too_large(raw.status_code, size)
                    if time.monotonic() - started > self.total_timeout:
                        raise httpx.ReadTimeout("total response time exceeded", request=request)
                    chunks.append(chunk)
                body = b"".join(chunks)
                exchange.response_body = _preview(body, secrets)
                return HttpResponse(status=raw.status_code, headers=raw.headers, content=body, url=str(request.url))
            finally:
                raw.close()
        except httpx.TimeoutException as exc:
            raise ConnectorTimeout(
                _("Il servizio %(platform)s non ha risposto in tempo; la richiesta sarà ripetuta.")
                % {"platform": self.platform},
                details={"url": str(request.url), "reason": str(exc) or type(exc).__name__},
            ) from exc
        except httpx.TransportError as exc:
            raise ConnectorUnavailable(
                _("Il servizio %(platform)s non è raggiungibile; la richiesta sarà ripetuta.")
                % {"platform": self.platform},
                details={"url": str(request.url), "reason": str(exc) or type(exc).__name__},
            ) from exc

    def _too_large(self, status: int, size: int) -> ResponseTooLarge:
        return with_status(
            ResponseTooLarge(
                _("La risposta del servizio %(platform)s supera la dimensione massima consentita (%(limit)s byte).")
                % {"platform": self.platform, "limit": self.max_response_bytes},
                details={"size_at_least": size, "limit": self.max_response_bytes},
            ),
            status,
        )

    def _check(self, response: HttpResponse, expected: Collection[str], allowed: Collection[int]) -> None:
        status = response.status
        # A caller may take a 5xx itself (SOAP carries its faults in HTTP 500 answers).
        if (status >= 500 or status == 429) and status not in allowed:
            code, detail, raw = parse_problem(response)
            raise with_status(
                ConnectorUnavailable(
                    _("Il servizio %(platform)s è momentaneamente non disponibile (HTTP %(status)s); "
                      "la richiesta sarà ripetuta.") % {"platform": self.platform, "status": status},
                    platform_code=code,
                    details={"status": status, "detail": detail, "body": raw},
                ),
                status,
            )
        if status >= 400 and status not in allowed:
            code, detail, raw = parse_problem(response)
            raise with_status(
                PlatformRefused(
                    _("Il servizio %(platform)s ha rifiutato la richiesta (HTTP %(status)s, codice %(code)s): "
                      "%(detail)s")
                    % {"platform": self.platform, "status": status, "code": code or "-", "detail": detail or "-"},
                    platform_code=code,
                    details={"status": status, "detail": detail, "body": raw},
                ),
                status,
            )
        if 300 <= status < 400 and status not in allowed:
            raise with_status(
                InvalidResponse(
                    _("Il servizio %(platform)s ha risposto con un reindirizzamento inatteso (HTTP %(status)s).")
                    % {"platform": self.platform, "status": status},
                    details={"location": response.headers.get("location")},
                ),
                status,
            )
        if not response.content:
            return  # nothing to misread; callers expecting a body fail on parsing it
        if expected and response.content_type not in {t.lower() for t in expected}:
            raise with_status(
                UnexpectedContentType(
                    _("Il servizio %(platform)s ha risposto con un contenuto di tipo inatteso (%(got)s).")
                    % {"platform": self.platform, "got": response.content_type or "-"},
                    details={"expected": sorted(expected), "got": response.content_type},
                ),
                status,
            )

    def _record(self, exchange: Exchange) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s (%s ms)\nrequest headers: %s\nrequest body: %s\nresponse headers: %s\n"
                "response body: %s%s",
                exchange.method,
                exchange.url,
                exchange.status,
                exchange.elapsed_ms,
                exchange.request_headers,
                exchange.request_body,
                exchange.response_headers,
                exchange.response_body,
                f"\nerror: {exchange.error}" if exchange.error else "",
            )
        _notify(exchange)
