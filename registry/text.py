"""Small parsing helpers shared by the register's imports and pages."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata


def normalise(text: str) -> str:
    """Lower case, accents and apostrophes dropped, single spaces: what searches compare."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", re.sub(r"['’\-.,]", " ", plain)).strip().lower()


def parse_date(value: str) -> dt.date | None:
    """ISO (2024-03-01) or Italian (01/03/2024) dates; None for empty or invalid text."""
    text = (value or "").strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
