"""The municipality picker's suggestions (htmx partial): any logged-in user, no tenant data."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import municipalities


@login_required
@require_GET
def municipality_options(request: HttpRequest) -> HttpResponse:
    query = (request.GET.get("q") or "")[:100]
    listbox = (request.GET.get("listbox") or "comuni")[:80]
    found = municipalities.search(query, limit=20)
    response = render(request, "forms/_municipality_options.html",
                      {"found": found, "query": query, "listbox": "".join(c for c in listbox if c.isalnum() or c in "-_")})
    response["Cache-Control"] = "private, max-age=3600"  # the archive changes a few times a year
    return response
