from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from connectors.base import config
from connectors.models import ConnectorConfig
from tests.factories import make_tenant


@pytest.mark.django_db
def test_base_url_prefers_env_then_tenant_then_simulator(monkeypatch):
    tenant = make_tenant(istat="058091")
    monkeypatch.setattr(django_settings, "PROCEDO_APPIO_BASE_URL", "")
    assert config.base_url("appio", tenant) == "http://127.0.0.1:8104"
    ConnectorConfig.objects.create(tenant=tenant, platform="appio", base_url="https://api.io.example/api/v1/",
                                   credentials={"api_key": "tenant-key"})
    assert config.base_url("appio", tenant) == "https://api.io.example/api/v1"
    assert config.base_url("appio", "058091") == "https://api.io.example/api/v1"
    assert config.base_url("appio", tenant.pk) == "https://api.io.example/api/v1"
    assert config.credentials("appio", tenant)["api_key"] == "tenant-key"
    monkeypatch.setattr(django_settings, "PROCEDO_APPIO_BASE_URL", "http://10.0.0.1:9000/")
    assert config.base_url("appio", tenant) == "http://10.0.0.1:9000"


@pytest.mark.django_db
def test_every_platform_has_a_demo_port():
    assert config.DEFAULT_PORTS == {
        "anpr": 8101, "pdnd": 8102, "pagopa": 8103, "appio": 8104, "send": 8105, "protocollo": 8106, "parer": 8107,
    }
    assert config.base_url("parer") == "http://127.0.0.1:8107"


def test_a_malformed_timeout_fails_clearly(monkeypatch):
    from common.errors import ConfigurationError

    monkeypatch.setattr(django_settings, "PROCEDO_SEND_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="PROCEDO_SEND_TIMEOUT"):
        config.timeouts("send")
    monkeypatch.setattr(django_settings, "PROCEDO_SEND_TIMEOUT", "2.5")
    assert config.timeouts("send") == (5.0, 2.5)


def test_an_unknown_platform_without_configuration_is_a_configuration_error(monkeypatch):
    from common.errors import ConfigurationError

    monkeypatch.setattr(django_settings, "PROCEDO_ANSC_BASE_URL", "")
    with pytest.raises(ConfigurationError):
        config.base_url("ansc")
