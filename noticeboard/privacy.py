"""Personal data on a public page: only what the law asks to publish, never a fiscal code.

The privacy authority's guidelines on publishing acts online (Garante, provv. 15 May 2014, n. 243)
exclude identifiers that the publication's purpose does not need; a fiscal code is never needed.
"""

from __future__ import annotations

import re

# A fiscal code (DM 23/12/1976), also in the "omocodia" form where digits become letters
# L-V; spaces or dots some people type between its groups are tolerated.
_DIGIT = "[0-9LMNPQRSTUV]"
_SEP = r"[\s.\-]?"
FISCAL_CODE = re.compile(
    rf"[A-Z]{{3}}{_SEP}[A-Z]{{3}}{_SEP}{_DIGIT}{{2}}{_SEP}[ABCDEHLMPRST]{_SEP}{_DIGIT}{{2}}{_SEP}"
    rf"[A-Z]{_SEP}{_DIGIT}{{3}}{_SEP}[A-Z]",
    re.IGNORECASE,
)
# The temporary fiscal code given to a person, 11 digits, looks like a VAT number; a VAT number of a
# company may be published, so only the 16-character personal code is refused.


def contains_fiscal_code(text: str) -> bool:
    return bool(FISCAL_CODE.search(text or ""))
