from django.contrib import admin

from .models import NoticeboardSettings, Publication


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    """Read-only: publications are written by noticeboard.services (numbering, audit)."""

    list_display = ("tenant", "year", "number", "title", "start_date", "end_date", "withdrawn_at")
    list_filter = ("tenant", "category")
    search_fields = ("title",)

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(NoticeboardSettings)
class NoticeboardSettingsAdmin(admin.ModelAdmin):
    list_display = ("tenant", "archive_days")
