"""Our fiscal-code check accepts exactly what python-codicefiscale accepted, and tells the same birth date."""

from __future__ import annotations

import datetime as dt
import os
import random
import string

import pytest
from codicefiscale import codicefiscale
from codicefiscale.data import get_indexed_data

from common import fiscal_code

OMOCODE_LETTERS = "LMNPQRSTUV"
MONTHS = "ABCDEHLMPRST"
# How many generated codes the oracle comparison runs (the library takes ~3 ms a code); raise it for a long run.
SAMPLES = int(os.environ.get("PROCEDO_FISCAL_CODE_SAMPLES", "4000"))


def _oracle(code: str, year: int) -> dt.date | None:
    try:
        decoded = codicefiscale.decode(code)
    except ValueError:
        return None
    assert dt.datetime.now().year == year  # the library reads the wall clock; the comparison pins the same year
    return decoded["birthdate"].date()


def _omocode(chars: str, rng: random.Random, rate: float) -> str:
    return "".join(OMOCODE_LETTERS[int(c)] if c.isdigit() and rng.random() < rate else c for c in chars)


def _generated_codes(count: int, seed: int = 20261201) -> list[str]:
    """Codes near the edges: most have a right check character, many are omocodes, women (+40), dates that do
    not exist (30 February, day 0, 32–40, 72+), birthplace codes real, retired, foreign, a municipality's or a
    state's name (the library looks names up first: TOGO, CIAD, AIBA), made up; some letters in digit places."""
    rng = random.Random(seed)
    data = get_indexed_data()
    real_places = sorted(k for k in data["codes"] if len(k) == 4)
    name_places = sorted(k.upper() for k in (*data["municipalities"], *data["countries"])
                         if len(k) == 4 and k.isalnum() and k.isascii() and k[0].isalpha())
    codes = []
    for _ in range(count):
        head = "".join(rng.choices(string.ascii_uppercase, k=6))
        year = f"{rng.randrange(100):02d}"
        roll = rng.random()
        if roll < 0.75:
            day = rng.choice((rng.randint(1, 31), rng.randint(41, 71)))
        else:
            day = rng.choice((0, 29, 30, 31, 32, 35, 40, 69, 70, 71, 72, 99))
        day_text = f"{day:02d}"
        month = rng.choice(MONTHS) if rng.random() < 0.97 else rng.choice("FGIJKNOQUVWXYZ")
        roll = rng.random()
        if roll < 0.7:
            place = rng.choice(real_places)
        elif roll < 0.8:
            place = rng.choice(name_places)
        else:
            place = rng.choice(string.ascii_uppercase) + f"{rng.randrange(1000):03d}"
        rate = rng.choice((0.0, 0.0, 0.3, 1.0))
        year, day_text = _omocode(year, rng, rate), _omocode(day_text, rng, rate)
        place = place[0] + _omocode(place[1:], rng, rate)
        if rng.random() < 0.03:  # a letter that is not an omocode letter where a digit belongs
            year = rng.choice("ABCDEFGHIJKWXYZ") + year[1]
        body = head + year + month + day_text + place
        check = fiscal_code.check_character(body) if rng.random() < 0.85 else rng.choice(string.ascii_uppercase)
        code = body + check
        codes.append(code.lower() if rng.random() < 0.05 else code)
    return codes


def test_it_accepts_and_dates_exactly_the_codes_the_library_accepted():
    year = dt.datetime.now().year
    codes = _generated_codes(SAMPLES)
    differences = []
    accepted = 0
    for code in codes:
        expected = _oracle(code, year)
        got = fiscal_code.birth_date(code, current_year=year)
        accepted += expected is not None
        if got != expected:
            differences.append((code, expected, got))
    assert differences == []
    # the sample reaches both sides of the line (not a vacuous comparison)
    assert 0.25 * SAMPLES < accepted < 0.75 * SAMPLES


def test_every_omocode_of_a_valid_code_is_valid_and_a_wrong_check_character_is_not():
    code = "RSSMRA80A01H501U"
    variants = codicefiscale.decode(code)["omocodes"]
    assert len(variants) == 128
    assert all(fiscal_code.is_valid(v) for v in variants)
    assert all(fiscal_code.birth_date(v) == dt.date(1980, 1, 1) for v in variants)
    assert not fiscal_code.is_valid("RSSMRA80A01H501X")
    assert not fiscal_code.is_valid("RSSMRA80A01H5LMU")


@pytest.mark.parametrize(("code", "born"), [
    ("BNCLRA85M41E715O", dt.date(1985, 8, 1)),  # a woman: day + 40
    ("PRVGNN90R10H501Q", dt.date(1990, 10, 10)),
    ("rssmra80a01h501u", dt.date(1980, 1, 1)),  # any case
])
def test_it_tells_the_birth_date(code, born):
    assert fiscal_code.birth_date(code) == born


def test_a_two_digit_year_is_read_in_this_century_unless_that_is_later_than_this_year():
    body = "RSSMRA" + "20" + "A01H501"
    code = body + fiscal_code.check_character(body)
    assert fiscal_code.birth_date(code, current_year=2026) == dt.date(2020, 1, 1)
    assert fiscal_code.birth_date(code, current_year=2019) == dt.date(1920, 1, 1)


def test_29_february_of_a_year_ending_in_00_is_2000_and_never_1900():
    body = "RSSMRA" + "00" + "B29H501"
    code = body + fiscal_code.check_character(body)
    assert fiscal_code.birth_date(code, current_year=2026) == dt.date(2000, 2, 29)
    assert fiscal_code.birth_date(code, current_year=1999) is None  # 1900 and 1800 were not leap years


@pytest.mark.parametrize("value", [
    "", "RSSMRA80A01H501", "RSSMRA80A01H501UU", "RSS MRA80A01H501", "RSSMRA80A01H501 ", "RSSMRÀ80A01H501U",
    "RSSMRA80A01H501-", "1234567890123456", None, 12,
])
def test_it_refuses_what_is_not_sixteen_letters_and_digits(value):
    assert not fiscal_code.is_valid(value)
