"""Include from config/urls.py: path("", include("documents.urls"))."""

from django.urls import path

from .dossier_views import dossier_page
from .views import verification_page

urlpatterns = [
    path("verifica/<str:code>", verification_page, name="document-verify"),
    path("fascicoli/<str:fiscal_code>/", dossier_page, name="dossier"),
]
