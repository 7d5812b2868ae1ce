"""Read-only queries of the tenant administration pages that span accounts, cases and documents."""

from __future__ import annotations

from accounts.models import Tenant, User
from cases.models import WorkItem, WorkItemStatus
from documents.models import TenantTemplate


def user_open_task_count(*, tenant: Tenant, user: User) -> int:
    """Open tasks assigned to `user` in `tenant` (shown before suspending someone)."""
    return WorkItem.objects.filter(tenant=tenant, assignee=user, status=WorkItemStatus.OPEN).count()


def tenant_template_versions(*, tenant: Tenant) -> dict[str, list[TenantTemplate]]:
    """The tenant's uploaded versions of each deed template, by template name."""
    versions: dict[str, list[TenantTemplate]] = {}
    for row in TenantTemplate.objects.filter(tenant=tenant).select_related("uploaded_by"):
        versions.setdefault(row.name, []).append(row)
    return versions
