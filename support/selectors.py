"""What the reporter of a malfunction ticket reads: their own tickets, and the answers each one
is waiting for from them now (the engine's waiting message catch events)."""

from __future__ import annotations

from typing import Any

from cases.models import Case

PROCESS_ID = "malfunction_ticket"
# The reporter's answers, in the order a page offers them (manifest `messages`, `by: starter`).
REPORTER_MESSAGES = ("reporter_info", "reporter_confirm", "reporter_reopen")


def reporter_tickets(*, tenant, user) -> list[Case]:
    """The tickets this person reported in this tenant, newest first (at most 200)."""
    return list(Case.objects.filter(tenant=tenant, process_id=PROCESS_ID, created_by=user)
                .defer("data").order_by("-opened_at", "-pk")[:200])


def reporter_ticket(*, tenant, user, pk: Any) -> Case | None:
    """One ticket of this person, or None (another tenant's, another reporter's, not a ticket)."""
    try:
        number = int(pk)
    except (TypeError, ValueError):
        return None
    return Case.objects.filter(tenant=tenant, process_id=PROCESS_ID, created_by=user, pk=number).first()


def ticket_waiting_answers(*, case: Case) -> list[str]:
    """The reporter's answers the ticket can take now: `reporter_info` while the support team
    waits for information, `reporter_confirm` / `reporter_reopen` once it is resolved."""
    from engine.selectors import instance_waiting_messages

    if case.status != "open" or not case.instance_id:
        return []
    waiting = instance_waiting_messages(instance=case.instance)
    return [m for m in REPORTER_MESSAGES if m in waiting]
