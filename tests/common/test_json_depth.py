"""Deeply nested JSON is refused with a 400 JSON error before any parser recurses into it."""

from __future__ import annotations

import pytest

from common import jsondepth
from tests.factories import api_client, make_tenant, make_user

pytestmark = pytest.mark.django_db


def test_a_hundred_thousand_nested_arrays_are_a_400_json_error_not_a_500():
    tenant = make_tenant()
    client = api_client(make_user(tenant, "registrar"), tenant)
    bomb = b"[" * 100_000 + b"]" * 100_000
    response = client.generic("POST", "/api/v1/cases/", bomb, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "json_too_deep"


def test_an_unauthenticated_bomb_is_refused_the_same_way():
    from django.test import Client

    bomb = '{"a":' * 50_000 + "1" + "}" * 50_000
    response = Client().post("/api/v1/cases/", bomb, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "json_too_deep"


def test_sixty_four_levels_reach_the_view():
    tenant = make_tenant()
    client = api_client(make_user(tenant, "registrar"), tenant)
    nested = '{"process": "x", "data": ' + "[" * 62 + "]" * 62 + "}"
    response = client.generic("POST", "/api/v1/cases/", nested, content_type="application/json")
    assert response.status_code != 500
    assert response.json()["error"]["code"] != "json_too_deep"


def test_brackets_inside_strings_and_escaped_quotes_do_not_count():
    assert not jsondepth.too_deep('{"a": "[[[[[[[[[[[[\\"[[[[[[["}', limit=1)
    assert jsondepth.too_deep('{"a": "\\\\", "b": [[]]}', limit=2)
    assert not jsondepth.too_deep("[" * 64 + "]" * 64)
    assert jsondepth.too_deep("[" * 65 + "]" * 65)


def test_a_json_form_field_nested_too_deep_is_ignored_not_a_crash():
    from django.http import QueryDict

    from forms.rendering import parse_post

    schema = {"type": "object", "properties": {"allegato": {"type": "string", "format": "file"}}}
    post = QueryDict(mutable=True)
    post["allegato__kept"] = "[" * 100_000 + "]" * 100_000
    assert parse_post(schema, post) == {}
