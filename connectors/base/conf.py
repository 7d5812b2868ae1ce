"""Connector settings, declared in config/settings.py from the environment (all optional):
PROCEDO_<PLATFORM>_BASE_URL, PROCEDO_<PLATFORM>_API_KEY, PROCEDO_<PLATFORM>_TIMEOUT (read seconds),
PROCEDO_PDND_TOKEN_URL, PROCEDO_SIMULATOR_HOST, PROCEDO_SEND_SIM_SPEED, PROCEDO_APPIO_SIM_EVERYONE_ON_IO.
"""

from __future__ import annotations

from django.conf import settings

from common.errors import ConfigurationError


def _setting(name: str, default: str = "") -> str:
    value = getattr(settings, name, None)
    if value not in (None, ""):
        return str(value).strip()
    return default


def base_url_override(platform: str) -> str:
    return _setting(f"PROCEDO_{platform.upper()}_BASE_URL")


def api_key_override(platform: str) -> str:
    return _setting(f"PROCEDO_{platform.upper()}_API_KEY")


def read_timeout(platform: str, default: float = 30.0) -> float:
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


def simulator_host() -> str:
    return _setting("PROCEDO_SIMULATOR_HOST", "127.0.0.1")


def send_simulator_speed() -> float:
    raw = _setting("PROCEDO_SEND_SIM_SPEED", "60")
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"PROCEDO_SEND_SIM_SPEED must be a number, got {raw!r}") from exc


def appio_simulator_everyone_on_io() -> bool:
    return bool(getattr(settings, "PROCEDO_APPIO_SIM_EVERYONE_ON_IO", True))
