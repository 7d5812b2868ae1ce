"""Where a platform is and which credentials a tenant uses with it: the one settings path.

Every platform client is built by its `from_config(tenant | PlatformConfig)` classmethod
from one `PlatformConfig`, resolved here from two sources only:

- the tenant's `ConnectorConfig` row for the platform (base URL, encrypted credentials,
  settings), read once per resolution;
- the `PROCEDO_*` settings declared in config/settings.py: `PROCEDO_<PLATFORM>_BASE_URL`
  (wins over the tenant's: operators point every tenant at a test environment),
  `PROCEDO_<PLATFORM>_API_KEY`, `PROCEDO_<PLATFORM>_TIMEOUT` (read seconds),
  `PROCEDO_PDND_TOKEN_URL`, `PROCEDO_SIMULATOR_HOST` and the simulators' own switches.

Without either, a platform is the demo simulator on its fixed loopback port with the demo
credentials below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from common.errors import ConfigurationError

DEFAULT_PORTS: dict[str, int] = {
    "anpr": 8101,
    "pdnd": 8102,
    "pagopa": 8103,
    "appio": 8104,
    "send": 8105,
    "protocollo": 8106,
    "parer": 8107,
}

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

CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0


# --- settings (config/settings.py) ------------------------------------------------------------------

def _setting(name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    if value not in (None, ""):
        return str(value).strip()
    return default


def _env_name(platform: str) -> str:
    return f"PROCEDO_{platform.upper()}_BASE_URL"


def read_timeout(platform: str, default: float = DEFAULT_READ_TIMEOUT) -> float:
    name = f"PROCEDO_{platform.upper()}_TIMEOUT"
    raw = _setting(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {raw!r}")
    return value


def timeouts(platform: str) -> tuple[float, float]:
    """(connect, read) seconds; `PROCEDO_<PLATFORM>_TIMEOUT` = read seconds."""
    return (CONNECT_TIMEOUT, read_timeout(platform))


def pdnd_token_url_override() -> str:
    return _setting("PROCEDO_PDND_TOKEN_URL")


def simulator_host() -> str:
    return _setting("PROCEDO_SIMULATOR_HOST", "127.0.0.1")


def send_simulator_speed() -> float:
    raw = _setting("PROCEDO_SEND_SIM_SPEED", "60")
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"PROCEDO_SEND_SIM_SPEED must be a number, got {raw!r}") from exc


def appio_simulator_read_after() -> float | None:
    """Seconds after which the App IO simulator marks an ADVANCED message read (None: never by itself)."""
    value = float(getattr(settings, "PROCEDO_APPIO_SIM_READ_AFTER", 0.0) or 0.0)
    return value if value > 0 else None


def appio_simulator_everyone_on_io() -> bool:
    return bool(getattr(settings, "PROCEDO_APPIO_SIM_EVERYONE_ON_IO", True))


# --- the tenant's row ---------------------------------------------------------------------------------

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


# --- one resolved configuration -----------------------------------------------------------------------

@dataclass(frozen=True)
class PlatformConfig:
    """Everything a client of `platform` needs for one tenant, resolved once."""

    platform: str
    base_url: str
    # Demo defaults, then the tenant's credentials and its settings as `setting:<name>`, then
    # PROCEDO_<PLATFORM>_API_KEY as `api_key`.
    credentials: Mapping[str, Any]
    settings: Mapping[str, Any] = field(default_factory=dict)
    timeout: tuple[float, float] = (CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT)
    tenant: Any = None  # as given: a Tenant, its id, its ISTAT code, or None for the demo

    def credential(self, name: str, default: str = "") -> str:
        value = self.credentials.get(name)
        return default if value in (None, "") else str(value)


def platform_config(platform: str, tenant: Any = None) -> PlatformConfig:
    row = tenant_config(platform, tenant)
    from_env = _setting(_env_name(platform))
    if from_env:
        url = from_env
    elif row is not None and row.base_url:
        url = row.base_url
    elif platform in DEFAULT_PORTS:
        url = f"http://{simulator_host()}:{DEFAULT_PORTS[platform]}"
    else:
        raise ConfigurationError(
            _("Nessun indirizzo configurato per la piattaforma %(platform)s.") % {"platform": platform},
            details={"env": _env_name(platform)},
        )
    merged: dict[str, Any] = dict(DEMO_CREDENTIALS.get(platform, {}))
    if row is not None:
        merged.update(row.credentials or {})
        merged.update({f"setting:{k}": v for k, v in (row.settings or {}).items()})
    env_key = _setting(f"PROCEDO_{platform.upper()}_API_KEY")
    if env_key:
        merged["api_key"] = env_key
    return PlatformConfig(platform=platform, base_url=url.rstrip("/"), credentials=merged,
                          settings=dict(row.settings or {}) if row is not None else {},
                          timeout=timeouts(platform), tenant=tenant)


def resolve(platform: str, source: Any) -> PlatformConfig:
    """`source` is a PlatformConfig of `platform` (used as is) or a tenant (Tenant, id, ISTAT code, None)."""
    if isinstance(source, PlatformConfig):
        if source.platform != platform:
            raise ConfigurationError(f"a {source.platform} configuration cannot build a {platform} client")
        return source
    return platform_config(platform, source)


# --- single values, for callers that need one (audit seals, SIP building, tests) ----------------------

def base_url(platform: str, tenant: Any = None) -> str:
    return platform_config(platform, tenant).base_url


def credentials(platform: str, tenant: Any = None) -> dict[str, Any]:
    """The tenant's credentials for a platform, over the demo defaults (see PlatformConfig.credentials)."""
    return dict(platform_config(platform, tenant).credentials)
