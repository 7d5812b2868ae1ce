"""Reads: inboxes and case search. Every function takes the tenant explicitly."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from accounts.models import Tenant, User
from accounts.roles import STAFF_ROLES, Role
from accounts.selectors import roles_for
from common.errors import NotFound

from .models import Case, WorkItem, WorkItemStatus


def inbox_for_user(*, tenant: Tenant, user: User, scope: str = "mine") -> QuerySet[WorkItem]:
    """`mine`: open items assigned to the user; `available`: unassigned items for their roles."""
    base = WorkItem.objects.filter(tenant=tenant, status=WorkItemStatus.OPEN).select_related("case", "assignee")
    if scope == "mine":
        return base.filter(assignee=user).order_by("due_at", "priority", "id")
    if scope == "available":
        roles = roles_for(user=user, tenant=tenant) - {Role.VIEWER, Role.CITIZEN}
        return (
            base.filter(assignee__isnull=True, role__in=list(roles))
            .exclude(excluded_username=user.username)
            # A subquery, not a join: the planner keeps reading the inbox index in order.
            .filter(
                Q(restricted_to_candidates=False)
                | Q(pk__in=WorkItem.candidate_users.through.objects.filter(user=user).values("workitem_id"))
            )
            .order_by("due_at", "priority", "id")
        )
    if scope == "all":
        return base.order_by("due_at", "priority", "id")
    raise ValueError(scope)


def case_visible_qs(*, tenant: Tenant, user: User) -> QuerySet[Case]:
    """Cases the user may see: staff see the tenant's cases; citizens their own."""
    roles = roles_for(user=user, tenant=tenant)
    qs = Case.objects.filter(tenant=tenant)
    if roles & STAFF_ROLES:
        return qs
    if Role.CITIZEN in roles and user.fiscal_code:
        return qs.filter(subject_rows__fiscal_code=user.fiscal_code.upper()).distinct()
    return qs.none()


def case_list(
    *,
    tenant: Tenant,
    user: User,
    number: str | None = None,
    status: str | None = None,
    process: str | None = None,
    fiscal_code: str | None = None,
    due_before: dt.date | None = None,
    due_after: dt.date | None = None,
) -> QuerySet[Case]:
    qs = case_visible_qs(tenant=tenant, user=user).select_related("process_version__definition")
    if number:
        qs = qs.filter(number__icontains=number.strip())
    if status:
        qs = qs.filter(status=status)
    if process:
        qs = qs.filter(process_id=process)
    if fiscal_code:
        qs = qs.filter(subject_rows__fiscal_code=fiscal_code.strip().upper()).distinct()
    if due_before:
        qs = qs.filter(legal_due_date__lte=due_before)
    if due_after:
        qs = qs.filter(legal_due_date__gte=due_after)
    return qs.order_by("-opened_at", "-id")


def case_get(*, tenant: Tenant, user: User, case_id: int) -> Case:
    case = case_visible_qs(tenant=tenant, user=user).select_related("process_version__definition").filter(pk=case_id).first()
    if case is None:
        raise NotFound("case not found")
    return case


def work_item_get(*, tenant: Tenant, user: User, work_item_id: int) -> WorkItem:
    item = WorkItem.objects.select_related("case", "assignee", "case__process_version").filter(
        tenant=tenant, pk=work_item_id
    ).first()
    if item is None:
        raise NotFound("task not found")
    roles = roles_for(user=user, tenant=tenant)
    if not roles & STAFF_ROLES:
        raise NotFound("task not found")
    return item


def case_history(*, case: Case) -> list[dict]:
    """Who did what when on a case, from the audit trail (reads left out)."""
    from audit.models import AuditEvent

    item_ids = [str(pk) for pk in case.work_items.values_list("pk", flat=True)]
    events = (
        AuditEvent.objects.filter(tenant=case.tenant)
        .filter(Q(object_type="case", object_id=str(case.pk)) | Q(object_type="work_item", object_id__in=item_ids))
        .exclude(action="read")
        .order_by("created_at", "id")
    )
    return [
        {"at": e.created_at, "actor": e.actor_username or None, "action": e.action, "summary": e.summary}
        for e in events
    ]


def team_overview(*, tenant: Tenant, today: dt.date) -> dict:
    """Workload per person, unassigned and overdue work, cases by procedure and status."""
    from django.db.models import Count

    open_items = WorkItem.objects.filter(tenant=tenant, status=WorkItemStatus.OPEN)
    per_person = (
        open_items.filter(assignee__isnull=False)
        .values("assignee__username", "assignee__first_name", "assignee__last_name")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=today)))
        .order_by("-overdue", "-open", "assignee__username")
    )
    unassigned = (
        open_items.filter(assignee__isnull=True)
        .values("role")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=today)))
        .order_by("role")
    )
    by_process = (
        Case.objects.filter(tenant=tenant).values("process_id", "title", "status").annotate(n=Count("id"))
        .order_by("process_id", "status")
    )
    overdue = open_items.filter(due_at__lt=today).select_related("case", "assignee").order_by("due_at")[:50]
    return {"per_person": list(per_person), "unassigned": list(unassigned), "by_process": list(by_process),
            "overdue": list(overdue)}


def case_progress(*, case: Case) -> dict[str, list[str]]:
    """BPMN element ids done and current for a case (read from its workflow state, no lock)."""
    from engine.services import instance_progress

    if case.instance_id is None:
        return {"done": [], "current": []}
    return instance_progress(instance=case.instance)
