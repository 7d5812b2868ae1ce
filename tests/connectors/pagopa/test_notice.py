from __future__ import annotations

import pytest

from connectors.pagopa.notice import (
    build_iuv,
    check_digits,
    iuv_base_for,
    iuv_is_valid,
    notice_number,
    notice_number_is_valid,
)

# Worked by hand from the SACI rule (aux digit 3): check = <3><segregation><IUV base> mod 93.
#   3 47 2026000000001 -> 3472026000000001 = 93 * 37333612903225 + 76   -> "76"
#   3 01 0000000000001 -> 3010000000000001 = 93 * 32365591397849 + 44   -> "44"
#   3 00 0000000000000 -> 3000000000000000 = 93 * 32258064516129 + 3    -> "03"
KNOWN = [
    ("47", "2026000000001", "347202600000000176"),
    ("01", "0000000000001", "301000000000000144"),
    ("00", "0000000000000", "300000000000000003"),
]


@pytest.mark.parametrize(("segregation", "base", "expected"), KNOWN)
def test_notice_numbers_follow_the_mod_93_rule(segregation, base, expected):
    assert notice_number(segregation_code=segregation, iuv_base=base) == expected
    assert notice_number_is_valid(expected)
    assert 93 * (int(expected[:16]) // 93) + int(expected[16:]) == int(expected[:16])


def test_check_digits_are_always_two_digits():
    assert check_digits(segregation_code="00", iuv_base="0000000000000") == "03"


@pytest.mark.parametrize("bad", ["347202600000000177", "247202600000000176", "34720260000000017", "3472026000000001x6"])
def test_wrong_notice_numbers_are_rejected(bad):
    assert not notice_number_is_valid(bad)


def test_iuv_is_segregation_base_and_check():
    iuv = build_iuv(segregation_code="47", iuv_base=iuv_base_for(year=2026, sequence=1))
    assert iuv == "47202600000000176"
    assert iuv_is_valid(iuv)
    assert not iuv_is_valid("47202600000000175")


def test_malformed_parts_are_refused():
    with pytest.raises(ValueError):
        check_digits(segregation_code="4", iuv_base="2026000000001")
    with pytest.raises(ValueError):
        iuv_base_for(year=2026, sequence=0)
