"""pagoPA notice numbers (numero avviso) and IUVs.

Specifiche attuative dei codici identificativi di versamento (SACI), aux digit 3
(an ente with several stations, which is how GPD is used):

    IUV (17)           = <segregation code (2)><IUV base (13)><check digits (2)>
    notice number (18) = <aux digit "3"><IUV>
    check digits       = (<aux digit><segregation code><IUV base>) mod 93, two digits
"""

from __future__ import annotations

import re

AUX_DIGIT = "3"
_NOTICE_RE = re.compile(r"^3\d{17}$")


def check_digits(*, segregation_code: str, iuv_base: str, aux_digit: str = AUX_DIGIT) -> str:
    if not re.fullmatch(r"\d{2}", segregation_code):
        raise ValueError(f"segregation code must be 2 digits, got {segregation_code!r}")
    if not re.fullmatch(r"\d{13}", iuv_base):
        raise ValueError(f"IUV base must be 13 digits, got {iuv_base!r}")
    return f"{int(aux_digit + segregation_code + iuv_base) % 93:02d}"


def build_iuv(*, segregation_code: str, iuv_base: str) -> str:
    return segregation_code + iuv_base + check_digits(segregation_code=segregation_code, iuv_base=iuv_base)


def notice_number(*, segregation_code: str, iuv_base: str) -> str:
    return AUX_DIGIT + build_iuv(segregation_code=segregation_code, iuv_base=iuv_base)


def iuv_is_valid(iuv: str) -> bool:
    if not re.fullmatch(r"\d{17}", iuv or ""):
        return False
    return iuv[15:] == check_digits(segregation_code=iuv[:2], iuv_base=iuv[2:15])


def notice_number_is_valid(value: str) -> bool:
    return bool(_NOTICE_RE.match(value or "")) and iuv_is_valid(value[1:])


def iuv_base_for(*, year: int, sequence: int) -> str:
    """13-digit IUV base: year (4) + a 9-digit sequence unique for the ente in that year."""
    if not 0 < sequence < 10**9:
        raise ValueError("IUV sequence out of range")
    return f"{year:04d}{sequence:09d}"
