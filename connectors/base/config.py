"""Where a platform is and which credentials a tenant uses with it.

Resolution order for the base URL (issue 5): the environment variable
`PROCEDO_<PLATFORM>_BASE_URL` wins (operators point every tenant at a test
environment), then the tenant's `ConnectorConfig`, then the demo simulator on
its fixed loopback port.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from common.errors import ConfigurationError

from . import conf

DEFAULT_PORTS: dict[str, int] = {
    "anpr": 8101,
    "pdnd": 8102,
    "pagopa": 8103,
    "appio": 8104,
    "send": 8105,
    "protocollo": 8106,
    "parer": 8107,
}


def simulator_host() -> str:
    return conf.simulator_host()


def _env_name(platform: str) -> str:
    return f"PROCEDO_{platform.upper()}_BASE_URL"


def tenant_config(platform: str, tenant: Any = None):
    """The active ConnectorConfig for (tenant, platform), or None.

    `tenant` may be a Tenant, its id, or its ISTAT code.
    """
    if tenant is None:
        return None
    from .. import models  # noqa: PLC0415 - keep this module importable before apps load

    qs = models.ConnectorConfig.objects.filter(platform=platform, is_active=True)
    if isinstance(tenant, int):
        qs = qs.filter(tenant_id=tenant)
    elif isinstance(tenant, str):
        qs = qs.filter(tenant__istat_code=tenant)
    else:
        qs = qs.filter(tenant_id=tenant.pk)
    return qs.first()


def base_url(platform: str, tenant: Any = None) -> str:
    from_env = conf.base_url_override(platform)
    if from_env:
        return from_env.rstrip("/")
    config = tenant_config(platform, tenant)
    if config is not None and config.base_url:
        return config.base_url.rstrip("/")
    port = DEFAULT_PORTS.get(platform)
    if port is None:
        raise ConfigurationError(
            _("Nessun indirizzo configurato per la piattaforma %(platform)s.") % {"platform": platform},
            details={"env": _env_name(platform)},
        )
    return f"http://{simulator_host()}:{port}"


# Demo credentials: what a tenant without configuration uses against the simulators.
DEMO_CREDENTIALS: dict[str, dict[str, Any]] = {
    "pagopa": {"api_key": "demo-gpd-key", "organization_fiscal_code": "00000000000", "segregation_code": "47",
               "aux_digit": "3"},
    "appio": {"api_key": "demo-io-key"},
    "send": {"api_key": "demo-send-key", "sender_tax_id": "00000000000", "sender_denomination": "Comune Demo",
             "taxonomy_code": "010101P"},
    "protocollo": {"api_key": "demo-protocollo-key", "aoo_code": "AOO_DEMO", "ipa_code": "c_demo"},
    "parer": {"username": "demo_user", "password": "demo-parer-pw", "ambiente": "PARER_TEST", "ente": "DEMO",
              "struttura": "DEMO_STRUTTURA", "version": "1.5"},
}


def credentials(platform: str, tenant: Any = None) -> dict[str, Any]:
    """The tenant's credentials for a platform, over the demo defaults.

    Environment variables `PROCEDO_<PLATFORM>_API_KEY` override the key (handy for
    `connector_call` against a test environment without touching the database).
    """
    merged: dict[str, Any] = dict(DEMO_CREDENTIALS.get(platform, {}))
    config = tenant_config(platform, tenant)
    if config is not None:
        merged.update(config.credentials or {})
        merged.update({f"setting:{k}": v for k, v in (config.settings or {}).items()})
    env_key = conf.api_key_override(platform)
    if env_key:
        merged["api_key"] = env_key
    return merged


def timeouts(platform: str) -> tuple[float, float]:
    """(connect, read) seconds; `PROCEDO_<PLATFORM>_TIMEOUT` = read seconds."""
    return (5.0, conf.read_timeout(platform))
