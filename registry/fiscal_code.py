"""Italian fiscal code (codice fiscale) for the registers: shape and check character only (the legacy
import checks tens of thousands of codes and reports shape and check character apart), and encoding
for test data. The check character itself is common.fiscal_code's, the one validator of the product.
DM 23/12/1976 (structure); omocodia letters replace digits when two people share a code.
"""

from __future__ import annotations

import datetime as dt
import re

from common.fiscal_code import check_character

SHAPE = re.compile(r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$")
MONTHS = "ABCDEHLMPRST"


def check_char(first15: str) -> str:
    return check_character(first15)


def normalise(value: str) -> str:
    return re.sub(r"\s+", "", value or "").upper()


def problem(value: str) -> str | None:
    """None when the code is well formed with a right check character, else a reason code."""
    if not SHAPE.match(value):
        return "shape"
    if check_char(value[:15]) != value[15]:
        return "check_char"
    return None


def _consonants(text: str) -> str:
    return "".join(c for c in text if c.isalpha() and c not in "AEIOU")


def _vowels(text: str) -> str:
    return "".join(c for c in text if c in "AEIOU")


def _surname_part(name: str) -> str:
    name = re.sub(r"[^A-Z]", "", name.upper())
    return (_consonants(name) + _vowels(name) + "XXX")[:3]


def _name_part(name: str) -> str:
    name = re.sub(r"[^A-Z]", "", name.upper())
    cons = _consonants(name)
    if len(cons) >= 4:
        return cons[0] + cons[2] + cons[3]
    return (cons + _vowels(name) + "XXX")[:3]


def encode(*, family_name: str, given_name: str, sex: str, birth_date: dt.date, place_code: str) -> str:
    """The code of a person (no omocodia); place_code is the Belfiore code (Z... for a foreign state)."""
    day = birth_date.day + (40 if sex == "F" else 0)
    body = f"{_surname_part(family_name)}{_name_part(given_name)}{birth_date.year % 100:02d}{MONTHS[birth_date.month - 1]}{day:02d}{place_code.upper()}"
    return body + check_char(body)
