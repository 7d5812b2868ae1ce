from django.contrib import admin

from .models import Case, Comment, WorkItem


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("number", "tenant", "process_id", "status", "opened_at", "legal_due_date")
    list_filter = ("tenant", "status", "process_id")
    search_fields = ("number", "subject_rows__fiscal_code")
    readonly_fields = [f.name for f in Case._meta.fields]


@admin.register(WorkItem)
class WorkItemAdmin(admin.ModelAdmin):
    list_display = ("case", "name", "role", "status", "assignee", "due_at")
    list_filter = ("tenant", "status", "role")


admin.site.register(Comment)
