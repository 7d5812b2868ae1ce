from django.contrib import admin

from .models import Document, DocumentType, DossierEntry


@admin.register(DocumentType)
class DocumentTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "tenant", "is_active"]
    list_filter = ["tenant", "is_active"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    # Documents are immutable once issued: read-only here; corrections supersede.
    list_display = ["id", "kind", "tenant", "signed", "signature_level", "created_at", "revoked_at"]
    list_filter = ["tenant", "signed", "kind"]
    readonly_fields = [f.name for f in Document._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(DossierEntry)
class DossierEntryAdmin(admin.ModelAdmin):
    list_display = ["fiscal_code", "document_type", "date", "protocol_number", "origin", "tenant"]
    list_filter = ["tenant", "origin"]
    search_fields = ["fiscal_code", "protocol_number"]
