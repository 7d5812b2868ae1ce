"""Test URLconf: the project's routes plus the documents routes (until config/urls.py includes them)."""

from django.urls import include, path

from config.urls import urlpatterns as project_urls

urlpatterns = [
    path("api/v1/", include(("documents.api_urls", "documents-api"))),
    path("", include("documents.urls")),
    *project_urls,
]
