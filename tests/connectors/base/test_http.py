from __future__ import annotations

import json
import logging

import pytest
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from common.operations import PermanentError, RetryableError
from connectors.base.errors import (
    ConnectorTimeout,
    ConnectorUnavailable,
    PlatformRefused,
    ResponseTooLarge,
    UnexpectedContentType,
)
from connectors.base.http import HttpClient, observe_exchanges
from connectors.base.simulator import SimulatorApp, SimulatorServer, json_response, problem


class EchoApp(SimulatorApp):
    platform = "echo"

    def rules(self):
        return [
            Rule("/echo", endpoint="echo", methods=["POST"]),
            Rule("/refuse", endpoint="refuse", methods=["GET"]),
            Rule("/html", endpoint="html", methods=["GET"]),
            Rule("/big", endpoint="big", methods=["GET"]),
        ]

    def on_echo(self, request):
        return json_response({"got": request.get_json(), "key": request.headers.get("x-api-key")})

    def on_refuse(self, request):
        return problem(
            400, "Bad Request", "campo mancante",
            errors=[{"code": "PN_GENERIC_INVALIDPARAMETER_REQUIRED", "detail": "recipients is required"}],
        )

    def on_html(self, request):
        return Response("<html>manutenzione</html>", content_type="text/html")

    def on_big(self, request):
        return json_response({"blob": "y" * 50_000})


@pytest.fixture
def sim():
    app = EchoApp()
    with SimulatorServer(app) as server:
        yield app, server


def client(server, **kw):
    kw.setdefault("timeout", (1.0, 2.0))
    return HttpClient(server.url, platform="Echo", **kw)


def test_a_json_round_trip_returns_status_and_body(sim):
    app, server = sim
    response = client(server).request("POST", "/echo", json={"a": 1}, headers={"x-api-key": "k"})
    assert response.status == 200
    assert response.json() == {"got": {"a": 1}, "key": "k"}
    assert app.recorded("POST", "/echo")[0].json() == {"a": 1}


def test_4xx_is_permanent_and_keeps_the_platform_code(sim):
    _, server = sim
    with pytest.raises(PlatformRefused) as info:
        client(server).request("GET", "/refuse")
    err = info.value
    assert isinstance(err, PermanentError)
    assert err.platform_code == "PN_GENERIC_INVALIDPARAMETER_REQUIRED"
    assert err.http_status == 400
    assert "recipients is required" in err.message
    assert "rifiutato" in err.message


def test_allowed_status_is_returned_not_raised(sim):
    _, server = sim
    response = client(server).request("GET", "/nowhere", allowed_statuses=(404,))
    assert response.status == 404
    assert response.json()["status"] == 404


def test_a_5xx_storm_is_retryable_then_the_call_succeeds(sim):
    app, server = sim
    app.faults.set(fail_count=3, fail_status=503)
    c = client(server)
    for _ in range(3):
        with pytest.raises(ConnectorUnavailable) as info:
            c.request("POST", "/echo", json={})
        assert isinstance(info.value, RetryableError)
        assert info.value.http_status == 503
    assert c.request("POST", "/echo", json={"ok": True}).json()["got"] == {"ok": True}


def test_429_is_retryable(sim):
    app, server = sim
    app.faults.set(fail_count=1, fail_status=429)
    with pytest.raises(ConnectorUnavailable):
        client(server).request("POST", "/echo", json={})


def test_a_slow_response_times_out_as_retryable(sim):
    app, server = sim
    app.faults.set(delay=1.0)
    with pytest.raises(ConnectorTimeout) as info:
        client(server, timeout=(1.0, 0.2)).request("POST", "/echo", json={})
    assert isinstance(info.value, RetryableError)
    app.faults.clear()


def test_a_refused_connection_is_retryable():
    app = EchoApp()
    server = SimulatorServer(app).start()
    url = server.url
    server.stop()
    with pytest.raises(ConnectorUnavailable):
        HttpClient(url, timeout=(0.5, 0.5)).request("POST", "/echo", json={})


def test_a_platform_that_comes_back_on_the_same_port_answers_again():
    app = EchoApp()
    server = SimulatorServer(app).start()
    c = HttpClient(server.url, timeout=(0.5, 1.0))
    server.stop()
    with pytest.raises(RetryableError):
        c.request("POST", "/echo", json={})
    server.start()
    try:
        assert c.request("POST", "/echo", json={"x": 1}).json()["got"] == {"x": 1}
    finally:
        server.stop()


def test_an_oversized_streamed_body_is_refused(sim):
    app, server = sim
    app.faults.set(oversize_bytes=300_000)
    with pytest.raises(ResponseTooLarge) as info:
        client(server, max_response_bytes=100_000).request("POST", "/echo", json={})
    assert isinstance(info.value, PermanentError)


def test_an_oversized_declared_body_is_refused(sim):
    _, server = sim
    with pytest.raises(ResponseTooLarge):
        client(server, max_response_bytes=10_000).request("GET", "/big")
    assert client(server, max_response_bytes=100_000).request("GET", "/big").status == 200


def test_a_wrong_content_type_is_refused(sim):
    _, server = sim
    with pytest.raises(UnexpectedContentType) as info:
        client(server).request("GET", "/html")
    assert info.value.details["got"] == "text/html"


def test_a_content_type_fault_is_refused(sim):
    app, server = sim
    app.faults.set(content_type="text/plain")
    with pytest.raises(UnexpectedContentType):
        client(server).request("POST", "/echo", json={})


def test_exchanges_and_logs_mask_secrets(sim, caplog):
    _, server = sim
    seen = []
    c = client(
        server,
        default_headers={"x-api-key": "supersecret-key"},
        secrets_to_mask=["hunter2-password"],
    )
    with caplog.at_level(logging.DEBUG, logger="connectors.http"), observe_exchanges(seen.append):
        c.request("POST", "/echo", json={"password": "hunter2-password", "note": "hunter2-password again"})
    assert len(seen) == 1
    ex = seen[0]
    assert ex.request_headers["x-api-key"] == "***"
    dumped = json.dumps(ex.__dict__) + caplog.text
    assert "supersecret-key" not in dumped
    assert "hunter2-password" not in dumped
    assert ex.status == 200
    assert "POST" in caplog.text
