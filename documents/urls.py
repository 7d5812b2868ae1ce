"""Include from config/urls.py: path("", include("documents.urls"))."""

from django.urls import path

from .dossier_views import dossier_page, dossier_search
from .views import verification_page

urlpatterns = [
    path("verifica/<str:code>", verification_page, name="document-verify"),
    path("fascicoli/", dossier_search, name="dossier_search"),
    path("fascicoli/<str:fiscal_code>/", dossier_page, name="dossier"),
]
