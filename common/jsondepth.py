"""Refuse JSON nested deeper than any real payload before the parser recurses into it.

Python's json module recurses once per level: 100 000 nested arrays raise RecursionError, which
escaped as an HTML 500. `too_deep()` scans the raw text once, counting `[` and `{` outside
strings, and stops at the first level past the limit, so the parser never sees such a body.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

# Structural characters and the two that change the meaning of the next one inside a string.
_STRUCTURE = re.compile(rb'["\\\[\]{}]')


def max_depth() -> int:
    return int(getattr(settings, "PROCEDO_JSON_MAX_DEPTH", 64))


def too_deep(raw: bytes | str, limit: int | None = None) -> bool:
    """True when the JSON text opens more than `limit` arrays/objects inside each other."""
    limit = max_depth() if limit is None else limit
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    depth = 0
    in_string = False
    skip_before = -1  # a backslash inside a string escapes the byte after it
    for match in _STRUCTURE.finditer(data):
        position = match.start()
        if position < skip_before:
            continue
        char = data[position]
        if in_string:
            if char == 0x5C:  # backslash
                skip_before = position + 2
            elif char == 0x22:  # closing quote
                in_string = False
            continue
        if char == 0x22:
            in_string = True
        elif char in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif char in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


class JsonTooDeep(ValueError):
    """Raised by `loads` for a document nested past the limit (a ValueError, like bad JSON)."""


def loads(text: str | bytes) -> Any:
    """json.loads that refuses excessive nesting with a ValueError instead of a RecursionError."""
    if too_deep(text):
        raise JsonTooDeep(f"JSON nested deeper than {max_depth()} levels")
    return json.loads(text)
