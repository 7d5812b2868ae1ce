"""SPID levels of assurance (the AuthnContextClassRef values) and their order."""

from __future__ import annotations

LEVELS = {
    "SpidL1": "https://www.spid.gov.it/SpidL1",
    "SpidL2": "https://www.spid.gov.it/SpidL2",
    "SpidL3": "https://www.spid.gov.it/SpidL3",
}
BY_URI = {uri: name for name, uri in LEVELS.items()}


def level_number(name: str) -> int:
    if name not in LEVELS:
        raise ValueError(f"unknown level {name!r}")
    return int(name[-1])


def level_at_least(have: str | None, want: str) -> bool:
    return have in LEVELS and level_number(have) >= level_number(want)
