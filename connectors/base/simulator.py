"""Serving platform simulators over real HTTP, with fault injection.

Convention: every `connectors/<platform>/simulator.py` exposes `create_app()`
returning a WSGI application (usually a `SimulatorApp` subclass);
`connectors.simulators.start_all()` serves each on its fixed demo port.

`SimulatorApp` gives a platform simulator routing (werkzeug), a lock for its
state, a log of received requests (so contract tests can validate what our
clients sent), and faults switchable from tests or over HTTP
(`POST /__sim__/faults` with a JSON body, `POST /__sim__/reset`):
delay (slow responses), a storm of N error statuses, oversized bodies, a wrong
content type.
"""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

logger = logging.getLogger("connectors.simulator")

WsgiApp = Callable[..., Iterable[bytes]]


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class SimulatorServer:
    """A threaded HTTP server for one WSGI app on loopback. Port 0 = ephemeral."""

    def __init__(self, wsgi_app: WsgiApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = wsgi_app
        self.host = host
        self.requested_port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        if self._server is not None:
            return self
        self._server = make_server(
            self.host, self.requested_port, self.app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        # Restarting on the same port (a platform "coming back") must reuse it.
        self.requested_port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"simulator-{self.requested_port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        faults = getattr(self.app, "faults", None)
        if faults is not None:
            faults.release()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Faults:
    """Switches a test flips to make the platform misbehave."""

    delay: float = 0.0
    fail_status: int = 503
    fail_count: int = 0  # next N requests fail; -1 = until cleared
    oversize_bytes: int = 0
    content_type: str | None = None
    _released: threading.Event = field(default_factory=threading.Event, repr=False)

    def set(self, **values: Any) -> None:
        for name, value in values.items():
            if name.startswith("_") or not hasattr(self, name):
                raise ValueError(f"unknown fault {name!r}")
            setattr(self, name, value)
        self._released.clear()

    def clear(self) -> None:
        self.delay = 0.0
        self.fail_status = 503
        self.fail_count = 0
        self.oversize_bytes = 0
        self.content_type = None
        self.release()

    def release(self) -> None:
        """Wake any handler waiting on `delay` (used on stop)."""
        self._released.set()

    def wait_delay(self) -> None:
        if self.delay > 0:
            self._released.wait(self.delay)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Headers  # case-insensitive, like HTTP
    body: bytes
    query: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def json_response(data: Any, status: int = 200, *, content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, content_type=content_type, headers=headers)


def problem(status: int, title: str, detail: str = "", *, type_: str | None = None,
            errors: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None) -> Response:
    """An RFC 7807 problem+json answer, as the pagoPA platforms send."""
    body: dict[str, Any] = {"status": status, "title": title}
    if detail:
        body["detail"] = detail
    if type_:
        body["type"] = type_
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return json_response(body, status, content_type="application/problem+json")


class SimulatorApp:
    """Base WSGI app for a platform simulator. Subclasses define `rules()` and `on_<endpoint>` methods."""

    platform = "simulator"
    max_recorded = 500

    def __init__(self) -> None:
        self.faults = Faults()
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.url_map = Map(self.rules())
        self.reset()

    # --- to override ---
    def rules(self) -> list[Rule]:
        return []

    def reset(self) -> None:
        """Drop all state (and recorded requests)."""
        with self.lock:
            self.requests = []

    # --- plumbing ---
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/__sim__/"):
            return self._admin(request)
        body = request.get_data(cache=True)
        with self.lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method, path=request.path, headers=Headers(request.headers),
                    body=body, query=dict(request.args),
                )
            )
            del self.requests[: -self.max_recorded]
        self.faults.wait_delay()
        if self.faults.fail_count:
            with self.lock:
                if self.faults.fail_count > 0:
                    self.faults.fail_count -= 1
                status = self.faults.fail_status
            return problem(status, "Service Unavailable" if status >= 500 else "Error",
                           "simulated fault", type_=None)
        try:
            adapter = self.url_map.bind_to_environ(request.environ)
            endpoint, values = adapter.match()
            response = getattr(self, f"on_{endpoint}")(request, **values)
        except NotFound:
            response = problem(404, "Not Found", f"no route for {request.path}")
        except MethodNotAllowed:
            response = problem(405, "Method Not Allowed", request.method)
        except HTTPException as exc:
            response = problem(exc.code or 500, exc.name, exc.description or "")
        except Exception:
            logger.exception("simulator %s failed on %s %s", self.platform, request.method, request.path)
            response = problem(500, "Internal Server Error", "simulator error")
        return self._apply_output_faults(response)

    def _apply_output_faults(self, response: Response) -> Response:
        if self.faults.content_type:
            response.headers["Content-Type"] = self.faults.content_type
        if self.faults.oversize_bytes:
            size = self.faults.oversize_bytes

            def stream() -> Iterator[bytes]:
                sent = 0
                chunk = b"x" * 65536
                while sent < size:
                    part = chunk[: size - sent]
                    sent += len(part)
                    yield part

            response.response = stream()
            response.headers.pop("Content-Length", None)
        return response

    def _admin(self, request: Request) -> Response:
        if request.path == "/__sim__/faults" and request.method == "POST":
            try:
                self.faults.set(**(request.get_json(force=True) or {}))
            except (ValueError, TypeError) as exc:
                return problem(400, "Bad Request", str(exc))
            return json_response({"ok": True})
        if request.path == "/__sim__/reset" and request.method == "POST":
            self.faults.clear()
            self.reset()
            return json_response({"ok": True})
        if request.path == "/__sim__/health":
            return json_response({"platform": self.platform, "ok": True})
        return self.admin(request)

    def admin(self, request: Request) -> Response:
        """Platform-specific admin/demo endpoints under /__sim__/ (e.g. mark a debt position paid)."""
        return problem(404, "Not Found", request.path)

    def recorded(self, method: str | None = None, path_prefix: str = "") -> list[RecordedRequest]:
        with self.lock:
            return [
                r for r in self.requests
                if (method is None or r.method == method) and r.path.startswith(path_prefix)
            ]
