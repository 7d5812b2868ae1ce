"""Which calls the shipped nginx sends again when a web process dies while executing them: against a running
nginx built from deploy/nginx/, with two upstreams - the first (web1) reads the request and drops the
connection without an answer (a gunicorn worker SIGKILLed mid-call), the second (web2) answers.

A mutating API call with a well-formed Idempotency-Key is resent to web2 (the app replays or runs it:
accounts/idempotency.py); without the key, with a malformed one, on the token endpoint or on a page, it is
NOT resent: the client gets 502 and web2 never sees it."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import uuid

import pytest

from tests.deploy.test_nginx_config import _configure, _free_port, _insecure_tls, _start_nginx


class _Seen:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, list[tuple[str, str, str | None, bytes]]] = {"web1": [], "web2": []}

    def add(self, name, handler, body) -> None:
        with self.lock:
            self.requests[name].append(
                (handler.headers.get("X-Test-Id"), handler.path, handler.headers.get("Idempotency-Key"), body))

    def ids(self, name) -> set[str]:
        with self.lock:
            return {r[0] for r in self.requests[name]}


def _backend(name: str, seen: _Seen, *, dies: bool) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.add(name, self, body)
            if dies:
                self.close_connection = True
                self.connection.shutdown(2)  # the call was received, then the process is gone: no answer
                return
            answer = json.dumps({"served_by": name}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def proxy(tmp_path):
    """nginx with web1 (dies mid-call) first in the upstream and web2 (answers) second."""
    seen = _Seen()
    dying, alive = _backend("web1", seen, dies=True), _backend("web2", seen, dies=False)
    https_port = _free_port()
    main = _configure(tmp_path, upstream_port=dying.server_address[1], http_port=_free_port(), https_port=https_port)
    conf = tmp_path / "procedo" / "procedo.conf"
    text = conf.read_text()
    first = f"server 127.0.0.1:{dying.server_address[1]};"
    assert text.count(first) == 2  # _configure maps web1 and web2 to one port: give web2 its own
    head, tail = text.rsplit(first, 1)
    conf.write_text(head + f"server 127.0.0.1:{alive.server_address[1]};" + tail)
    proc = _start_nginx(tmp_path, main, https_port)
    context = _insecure_tls()

    def call(method: str, path: str, key: str | None = None) -> tuple[int, str]:
        test_id = uuid.uuid4().hex
        headers = {"Host": "procedo.example.it", "Content-Type": "application/json", "X-Test-Id": test_id}
        if key is not None:
            headers["Idempotency-Key"] = key
        conn = http.client.HTTPSConnection("127.0.0.1", https_port, context=context, timeout=20)
        conn.request(method, path, body=json.dumps({"data": {"ok": True}, "id": test_id}), headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        return response.status, test_id

    try:
        yield call, seen
    finally:
        proc.terminate()
        proc.wait(10)
        dying.shutdown()
        alive.shutdown()


def _first_call_reaches_web1(seen, test_id):
    # web1 is first in the upstream: a fresh nginx sends it the first call (round robin), and after that
    # failure leaves it aside for fail_timeout. Each test makes one call on a fresh nginx.
    assert test_id in seen.ids("web1"), seen.requests


@pytest.mark.parametrize("method,path", [
    ("POST", "/api/v1/tasks/7/complete/"), ("POST", "/api/v1/cases/"), ("PATCH", "/api/v1/cases/3/"),
    ("DELETE", "/api/v1/cases/3/"),
])
def test_a_keyed_api_call_the_dead_process_was_executing_is_resent_to_the_other(proxy, method, path):
    call, seen = proxy
    status, test_id = call(method, path, key="client-key-0001")
    _first_call_reaches_web1(seen, test_id)
    assert status == 200
    resent = [r for r in seen.requests["web2"] if r[0] == test_id]
    # The same call, body and key included, reached the live process: it replays or runs it.
    assert len(resent) == 1 and resent[0][1] == path and resent[0][2] == "client-key-0001"
    assert json.loads(resent[0][3])["id"] == test_id


@pytest.mark.parametrize("path,key", [
    ("/api/v1/tasks/7/complete/", None),            # no key: it may have committed, never resent
    ("/api/v1/tasks/7/complete/", "short"),         # a key the app refuses is no key
    ("/api/v1/tasks/7/complete/", "bad key;x=1"),
    ("/api/v1/token/", "client-key-0002"),          # no user yet: the app keeps no record there
    ("/accedi/", "client-key-0003"),                # pages are not under the key's protection
])
def test_any_other_post_the_dead_process_was_executing_is_not_resent(proxy, path, key):
    call, seen = proxy
    status, test_id = call("POST", path, key=key)
    _first_call_reaches_web1(seen, test_id)
    assert status == 502
    assert test_id not in seen.ids("web2")


def test_a_read_is_resent_with_or_without_a_key(proxy):
    call, seen = proxy
    status, test_id = call("GET", "/api/v1/tasks/")
    _first_call_reaches_web1(seen, test_id)
    assert status == 200 and test_id in seen.ids("web2")
