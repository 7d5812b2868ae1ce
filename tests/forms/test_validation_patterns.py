"""A `pattern` in a form comes from a process model a tenant's admin can edit: matching it must take
bounded time, whatever the pattern and the value."""

from __future__ import annotations

import json

from forms.validation import validate_data


def validate(schema, data):
    return validate_data(json.dumps(schema), data)

SCHEMA = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a|aa)+$"}}}


def test_a_catastrophic_pattern_is_a_field_error_not_a_hung_worker():
    # With Python's `re` this match never ends in practice (2^40 paths): the test would hang.
    assert validate(SCHEMA, {"code": "a" * 40 + "!"}) == {"code": ["Formato non valido."]}


def test_patterns_still_accept_and_refuse_as_before():
    assert validate(SCHEMA, {"code": "aaa"}) == {}
    assert validate(SCHEMA, {"code": "ab"}) == {"code": ["Formato non valido."]}
    assert validate({"type": "object", "properties": {"n": {"type": "string", "pattern": "^\\d{3}$"}}},
                    {"n": "123"}) == {}


def test_a_pattern_that_does_not_compile_refuses_the_value_instead_of_failing():
    schema = {"type": "object", "properties": {"x": {"type": "string", "pattern": "(unclosed"}}}
    assert validate(schema, {"x": "anything"}) == {"x": ["Formato non valido."]}
