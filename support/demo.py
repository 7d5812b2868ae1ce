"""Demo malfunction tickets (demo data only): one waiting for the support team, one resolved and
waiting for the reporter's confirmation, on each demo municipality; and a demo support user."""

from __future__ import annotations

from accounts.demo import DEMO_PASSWORD
from accounts.models import Membership, Tenant, User
from accounts.roles import Role

DEMO_TICKETS = [
    {"level": "3", "summary": "La stampa del certificato è lenta",
     "description": "Dalle 9 la stampa impiega più di un minuto.", "page_url": "/pratiche/", "browser": "Firefox 128"},
    {"level": "1", "summary": "Refuso nella pagina dei compiti",
     "description": "'Asegnatario' invece di 'Assegnatario'.", "page_url": "/", "browser": "Chrome 131"},
]


def demo_support_user(tenant: Tenant) -> User:
    user, created = User.objects.get_or_create(username=f"support.{tenant.slug}",
                                               defaults={"first_name": "Assistenza", "last_name": "Fornitore"})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(user=user, tenant=tenant, role=Role.SUPPORT)
    return user


def load_demo_tickets(tenant: Tenant) -> int:
    from cases.models import Case
    from cases.services import case_start, work_item_claim, work_item_complete
    from engine.services import outbox_deliver_due

    support = demo_support_user(tenant)
    if Case.objects.filter(tenant=tenant, process_id="malfunction_ticket").exists():
        return 0
    reporter = User.objects.filter(username=f"registrar.{tenant.slug}").first()
    if reporter is None:
        return 0
    cases = [case_start(tenant=tenant, user=reporter, process_id="malfunction_ticket", data=dict(data))
             for data in DEMO_TICKETS]
    outbox_deliver_due()  # the SLA terms reach each ticket: its clock starts
    item = cases[1].work_items.filter(status="open", bpmn_id="handle").first()
    if item is not None:
        work_item_claim(work_item_id=item.pk, tenant=tenant, user=support)
        work_item_complete(work_item_id=item.pk, tenant=tenant, user=support,
                           data={"action": "resolve", "resolution": "Corretto il testo della pagina."})
    return len(cases)
