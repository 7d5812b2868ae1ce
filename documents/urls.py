"""Include from config/urls.py: path("", include("documents.urls"))."""

from django.urls import path

from .views import verification_page

urlpatterns = [
    path("verifica/<str:code>", verification_page, name="document-verify"),
]
