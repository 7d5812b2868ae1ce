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


@pytest.mark.django_db
def test_every_client_is_built_from_one_resolved_configuration(monkeypatch, django_assert_max_num_queries):
    from connectors.anpr.client import AnprClient
    from connectors.appio.client import AppIoClient
    from connectors.pagopa.client import GpdClient
    from connectors.parer.client import ParerClient
    from connectors.protocollo.client import ProtocolClient
    from connectors.send.client import SendClient

    tenant = make_tenant(istat="058091")
    for platform in ("appio", "send", "pagopa", "protocollo", "parer", "anpr", "pdnd"):
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_BASE_URL", "")
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_API_KEY", "")
        monkeypatch.setattr(django_settings, f"PROCEDO_{platform.upper()}_TIMEOUT", "7")
    monkeypatch.setattr(django_settings, "PROCEDO_PDND_TOKEN_URL", "")
    rows = {
        "appio": ({"api_key": "io-key"}, {}),
        "send": ({"api_key": "send-key"}, {}),
        "pagopa": ({"api_key": "gpd-key", "organization_fiscal_code": "80000000000"}, {}),
        "protocollo": ({"api_key": "proto-key"}, {"register_path": "/adapter/registra"}),
        "parer": ({"username": "versatore", "password": "segreta", "version": "1.4"}, {}),
        "anpr": ({"environment": "PROD"}, {}),
        "pdnd": ({"token_url": "https://auth.example/token.oauth2", "purpose_ids": {"C020": "p-20"}}, {}),
    }
    for platform, (creds, options) in rows.items():
        ConnectorConfig.objects.create(tenant=tenant, platform=platform, base_url=f"https://{platform}.example/",
                                       credentials=creds, settings=options)

    with django_assert_max_num_queries(1):
        io = AppIoClient.from_config(tenant)
    assert (io.http.base_url, io.http.default_headers["Ocp-Apim-Subscription-Key"]) == ("https://appio.example",
                                                                                         "io-key")
    assert io.http.timeout.read == 7.0
    assert SendClient.from_config(tenant.pk).http.default_headers["x-api-key"] == "send-key"
    gpd = GpdClient.from_config("058091")
    assert (gpd.http.base_url, gpd.org) == ("https://pagopa.example", "80000000000")
    protocol = ProtocolClient.from_config(config.platform_config("protocollo", tenant))
    assert (protocol.register_path, protocol.http.default_headers["Authorization"]) == ("/adapter/registra",
                                                                                      "Bearer proto-key")
    parer = ParerClient.from_config(tenant)
    assert (parer.username, parer.password, parer.version) == ("versatore", "segreta", "1.4")
    assert parer.http.timeout.read == 30.0  # never less than SACER needs for a deposit
    with django_assert_max_num_queries(2):  # the anpr row and the pdnd row, once each
        anpr = AnprClient.from_config(tenant)
    assert (anpr.base_url, anpr.sender, anpr.environment) == ("https://anpr.example", "058091", "PROD")
    assert (anpr.vouchers.token_url, anpr.purpose("C020")) == ("https://auth.example/token.oauth2", "p-20")

    monkeypatch.setattr(django_settings, "PROCEDO_APPIO_BASE_URL", "http://10.0.0.1:9000")
    monkeypatch.setattr(django_settings, "PROCEDO_APPIO_API_KEY", "operator-key")
    io = AppIoClient.from_config(tenant)
    assert (io.http.base_url, io.http.default_headers["Ocp-Apim-Subscription-Key"]) == ("http://10.0.0.1:9000",
                                                                                         "operator-key")
    demo = AppIoClient.from_config(None)
    assert demo.http.default_headers["Ocp-Apim-Subscription-Key"] == "operator-key"


def test_a_configuration_builds_only_its_own_platforms_client():
    from common.errors import ConfigurationError
    from connectors.appio.client import AppIoClient

    send = config.PlatformConfig(platform="send", base_url="http://x", credentials={})
    with pytest.raises(ConfigurationError):
        AppIoClient.from_config(send)
