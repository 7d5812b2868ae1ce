"""A request declaring a body larger than any upload is refused before it is read."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_an_oversized_request_is_refused_at_the_door(settings):
    settings.PROCEDO_MAX_REQUEST_BYTES = 1024
    client = Client()
    page = client.post("/accedi/", data=b"x" * 2048, content_type="application/octet-stream")
    assert page.status_code == 413 and "troppo grande" in page.content.decode()
    api = client.post("/api/v1/cases/", data=b"{}" + b" " * 2048, content_type="application/json")
    assert api.status_code == 413 and api.json()["error"]["code"] == "request_too_large"
    assert client.post("/accedi/", {"username": "x", "password": "y"}).status_code == 200  # small ones pass
