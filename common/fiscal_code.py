"""The Italian fiscal code (codice fiscale, DPR 605/1973 and DM 23/12/1976): is it valid, when was its holder born.

Our own check instead of `codicefiscale.is_valid`, which parsed the birth date with dateutil and expanded all
128 omocode variants on every call (about 3.4 ms, 38% of a case start). Here everything is a table built once:
the check character, the omocode digit letters, the month letters, and for each birthplace (Belfiore) code
the dates on which it is accepted.

The acceptance set is the library's, which stays the oracle in tests (tests/common/test_fiscal_code.py compares
the two over generated codes) and the source of the birthplace data: the same municipality and foreign-state
tables as before (python-codicefiscale's bundled ISTAT/Agenzia delle Entrate data, MIT licence), so a code valid
yesterday is valid today. One deliberate difference: the library slugified its input first, so "RSS MRA..." or
accented letters passed and were then stored as typed; here only the 16 letters and digits (any case) pass.
Callers normalise spaces and case before calling (accounts.services.normalise_fiscal_code, the forms' upper()).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

from common import clock

_MONTHS = "ABCDEHLMPRST"
# Positions 7, 8 (year), 10, 11 (day), 13, 14, 15 (birthplace digits) of an omocode carry a letter instead of a digit.
_OMOCODE_TO_DIGIT = str.maketrans("LMNPQRSTUV", "0123456789")
# The library's shape (its regular expression, ASCII letters and digits only): surname, name, year, month
# letter, day, birthplace (a letter and three letters or digits), check character.
_SHAPE = re.compile(r"[A-Z]{6}[A-Z0-9]{2}[ABCDEHLMPRST][A-Z0-9]{2}[A-Z][A-Z0-9]{3}[A-Z]")

# The check character (DM 23/12/1976, art. 7): characters in odd positions (1st, 3rd, ...) and in even ones
# have their own values; the sum modulo 26 is the letter.
_ODD_VALUES = dict(zip(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21,
     2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23), strict=True))
_EVEN_VALUES = {c: (int(c) if c.isdigit() else ord(c) - ord("A")) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}

_MIN = dt.date.min
_MAX = dt.date.max

_places: dict[str, tuple[tuple[dt.date, dt.date], ...]] | None = None
_places_lock = threading.Lock()


def check_character(first15: str) -> str:
    """The check character of the first 15 characters (upper case letters and digits)."""
    total = 0
    for index, char in enumerate(first15):
        total += _ODD_VALUES[char] if index % 2 == 0 else _EVEN_VALUES[char]
    return chr(ord("A") + total % 26)


def is_valid(code: str) -> bool:
    """True when `code` is a fiscal code of a natural person the library accepted (see the module docstring)."""
    return birth_date(code) is not None


def birth_date(code: str, *, current_year: int | None = None) -> dt.date | None:
    """The holder's birth date, or None when `code` is not a valid fiscal code.

    Two digits of year: the latest year not after this one, or a century earlier when that date does not exist
    or the birthplace code was not in use then (people over 100).
    """
    if not isinstance(code, str) or len(code) != 16 or not code.isascii():
        return None
    code = code.upper()
    if _SHAPE.fullmatch(code) is None:
        return None
    if check_character(code[:15]) != code[15]:
        return None
    year_digits = code[6:8].translate(_OMOCODE_TO_DIGIT)
    day_digits = code[9:11].translate(_OMOCODE_TO_DIGIT)
    if not (year_digits.isdigit() and day_digits.isdigit()):
        return None
    day = int(day_digits)
    if day > 40:  # women: day + 40
        day -= 40
    month = _MONTHS.index(code[8]) + 1
    place = _places_index().get(code[11] + code[12:15].translate(_OMOCODE_TO_DIGIT))
    if place is None:
        return None
    this_year = current_year if current_year is not None else clock.now().year
    year = this_year // 100 * 100 + int(year_digits)
    if year > this_year:
        year -= 100
    for candidate in (year, year - 100):
        try:
            born = dt.date(candidate, month, day)
        except ValueError:
            continue
        if any(start <= born <= end for start, end in place):
            return born
    return None


# --------------------------------------------------------------------------- birthplace table, built once


def _date(value: str) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if value else None


def _accepted_spans(options: list[dict[str, Any]]) -> tuple[tuple[dt.date, dt.date], ...]:
    """The birth dates on which the library accepts a birthplace with these entries (`_get_birthplace` and its
    fallback): while an entry existed; from the end of one entry on, when a later entry was created after it;
    and any date up to the creation of an entry (codes assigned after the birth)."""
    spans = [(_date(o["date_created"]) or _MIN, _date(o["date_deleted"]) or _MAX) for o in options]
    for current, following in zip(options, options[1:], strict=False):
        deleted, created = _date(current["date_deleted"]), _date(following["date_created"])
        if deleted and created and deleted <= created:
            spans.append((deleted, _MAX))
    spans += [(_MIN, created) for created in (_date(o["date_created"]) for o in options) if created]
    return tuple(sorted(set(spans)))


def _build_places() -> dict[str, tuple[tuple[dt.date, dt.date], ...]]:
    from codicefiscale.data import get_indexed_data

    data = get_indexed_data()
    shape = re.compile(r"[A-Z][A-Z0-9]{3}")
    keys = {k.upper() for k in (*data["municipalities"], *data["countries"], *data["codes"])}
    places = {}
    for key in keys:
        if not shape.fullmatch(key):
            continue
        # the library's lookup order: a municipality's name, a country's name, then the code itself
        lower = key.lower()
        if lower in data["municipalities"]:
            options = data["municipalities"][lower]
        elif lower in data["countries"]:
            options = data["countries"][lower]
        else:
            options = data["codes"].get(key)
        if options:
            places[key] = _accepted_spans(options)
    return places


def warm() -> None:
    """Build the birthplace table now (web start-up) rather than on the first check."""
    _places_index()


def _places_index() -> dict[str, tuple[tuple[dt.date, dt.date], ...]]:
    global _places
    if _places is None:
        with _places_lock:
            if _places is None:
                _places = _build_places()
    return _places
