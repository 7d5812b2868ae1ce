from __future__ import annotations

import io
import json

import httpx
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from connectors.appio.simulator import AppIoSimulator
from connectors.simulators import simulator_factories, start_all, stop_all
from tests.connectors.base.support import running
from tests.factories import make_tenant

MINE = ["appio", "pagopa", "parer", "protocollo", "send"]


def test_every_platform_simulator_follows_the_create_app_convention_and_starts():
    assert set(MINE) <= set(simulator_factories())
    servers = start_all(ports=dict.fromkeys(MINE, 0), only=MINE)
    first_url = servers[0].url
    try:
        assert sorted(s.platform for s in servers) == MINE
        for server in servers:
            health = httpx.get(f"{server.url}/__sim__/health").json()
            assert health == {"platform": server.platform, "ok": True}
    finally:
        stop_all(servers)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{first_url}/__sim__/health", timeout=0.5)


def test_a_busy_port_is_reported_and_nothing_is_left_running():
    first = start_all(ports={"appio": 0}, only=["appio"])
    try:
        with pytest.raises(OSError, match="appio"):
            start_all(ports={"appio": first[0].port}, only=["appio"])
    finally:
        stop_all(first)


def test_list_shows_every_operation_with_its_description():
    out = io.StringIO()
    call_command("connector_call", "--list", stdout=out)
    text = out.getvalue()
    for name in ("pagopa.create_debt_position", "pagopa.get_payment_status", "appio.get_profile",
                 "appio.send_message", "send.create_notification", "send.get_status", "protocol.register",
                 "parer.send_sip"):
        assert name in text
    assert "App IO" in text


@pytest.mark.django_db
def test_connector_call_prints_the_exchange_with_secrets_masked(monkeypatch):
    tenant = make_tenant(istat="058091")
    app = AppIoSimulator()
    with running(app, monkeypatch, "appio"):
        monkeypatch.setattr(django_settings, "PROCEDO_APPIO_API_KEY", "very-secret-io-key")
        out = io.StringIO()
        call_command("connector_call", "appio.get_profile", json.dumps({"fiscal_code": "PRVGNN90R10H501Q"}),
                     "--tenant", "058091", stdout=out)
    text = out.getvalue()
    assert "--> POST" in text and "/profiles" in text
    assert "<-- 200" in text
    assert "very-secret-io-key" not in text
    assert "***" in text
    assert '"sender_allowed": true' in text
    assert tenant.pk


@pytest.mark.django_db
def test_connector_call_reports_a_platform_error_clearly(monkeypatch):
    make_tenant(istat="058092")
    app = AppIoSimulator()
    with running(app, monkeypatch, "appio"):
        app.faults.set(fail_count=1, fail_status=503)
        err = io.StringIO()
        with pytest.raises(CommandError):
            call_command("connector_call", "appio.get_profile", '{"fiscal_code": "PRVGNN90R10H501Q"}',
                         "--tenant", "058092", stdout=io.StringIO(), stderr=err)
    assert "non disponibile" in err.getvalue()
    assert "ripetibile: sì" in err.getvalue()


@pytest.mark.django_db
def test_connector_call_refuses_bad_input():
    make_tenant(istat="058093")
    with pytest.raises(CommandError, match="sconosciuta"):
        call_command("connector_call", "nope.nothing", "{}", "--tenant", "058093")
    with pytest.raises(CommandError, match="JSON"):
        call_command("connector_call", "appio.get_profile", "{not json", "--tenant", "058093")
