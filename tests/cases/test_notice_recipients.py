"""notify.citizen's recipient: a citizen (16-character fiscal code) or an organisation (11 digits and
its name, e.g. the crematorium a cremation authorisation is sent to through SEND as a legal person)."""

from __future__ import annotations

import pytest

from cases.notices import _recipient
from common.operations import PermanentError


def test_a_citizen_is_a_natural_person():
    r = _recipient({"recipient": {"fiscal_code": " rssmra80a01h501u", "given_name": "Mario", "family_name": "Rossi"}})
    assert r["fiscal_code"] == "RSSMRA80A01H501U" and r["organisation"] is False


def test_an_organisation_has_eleven_digits_and_a_name():
    r = _recipient({"recipient": {"fiscal_code": "01234560467", "denomination": "Tempio crematorio di Lucca"}})
    assert r["organisation"] is True


@pytest.mark.parametrize("recipient", [
    {"fiscal_code": "01234560467"},                       # an organisation without its name
    {"fiscal_code": "0123456046A", "denomination": "X"},  # not digits
    {"fiscal_code": "123", "denomination": "X"},
    {"fiscal_code": "RSSMRA80A01H501U!"},
])
def test_anything_else_is_refused(recipient):
    with pytest.raises(PermanentError):
        _recipient({"recipient": recipient})
