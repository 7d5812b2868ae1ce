"""Include from config/api_urls.py: path("", include(("documents.api_urls", "documents-api")))."""

from django.urls import path

from .api import CaseDocumentsView, DocumentContentView, DossierView

app_name = "documents-api"

urlpatterns = [
    path("cases/<int:case_id>/documents/", CaseDocumentsView.as_view(), name="case-documents"),
    path("documents/<int:document_id>/content/", DocumentContentView.as_view(), name="document-content"),
    path("dossiers/<str:fiscal_code>/", DossierView.as_view(), name="dossier"),
]
