"""Every /api/v1/ route. Each app adds its router here."""

from django.urls import include, path

urlpatterns = [
    path("", include("cases.api_urls")),
    path("", include("audit.api_urls")),
    path("", include(("documents.api_urls", "documents-api"))),
]
