"""ANPR code tables shipped in registry/data/ (source and licence in data/README.md).

Codes are stored as small integers on the rows; these lookups give their Italian labels and tell
a valid code from an unknown one. Read once per process.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

# Codes the register relies on by meaning (ANPR tables 5, Stato civile, validazione CF).
HEAD_OF_HOUSEHOLD = 1  # "Intestatario Scheda"
RELATIONSHIP_UNDEFINED = 99  # "Non definito/comunicato"
CIVIL_STATUS_UNKNOWN = 9  # "Non classificabile/ignoto/n.c"
CF_VALIDATED = 1
CF_NOT_VALIDATED = 9
ITALY_ISTAT = "100"


@dataclass(frozen=True)
class Code:
    code: int
    description: str
    in_force: bool


@cache
def table(name: str) -> dict[int, Code]:
    with open(DATA / f"{name}.csv", encoding="utf-8", newline="") as handle:
        return {int(r["code"]): Code(int(r["code"]), r["description"], not r["valid_to"]) for r in csv.DictReader(handle)}


def label(name: str, code: int | None) -> str:
    entry = table(name).get(code) if code is not None else None
    return entry.description if entry else ""


def is_valid(name: str, code: int | None, *, in_force: bool = True) -> bool:
    entry = table(name).get(code) if code is not None else None
    return entry is not None and (entry.in_force or not in_force)


def choices(name: str) -> list[tuple[int, str]]:
    return [(c.code, c.description) for c in table(name).values() if c.in_force]


@dataclass(frozen=True)
class State:
    istat_code: str
    belfiore_code: str
    name: str


@lru_cache(maxsize=1)
def foreign_states() -> dict[str, State]:
    """By ISTAT code (Italy is 100). Several historical rows share a code: the first in force wins."""
    states: dict[str, State] = {}
    with open(DATA / "foreign_states.csv", encoding="utf-8", newline="") as handle:
        for r in csv.DictReader(handle):
            code = r["istat_code"].strip()
            if code and (code not in states or not r["valid_to"]):
                states.setdefault(code, State(code, r["belfiore_code"], r["name"]))
    return states


def state_name(istat_code: str) -> str:
    state = foreign_states().get(istat_code)
    return state.name if state else istat_code


@lru_cache(maxsize=1)
def toponym_species_by_name() -> dict[str, int]:
    return {c.description.upper(): c.code for c in table("toponym_species").values()}
