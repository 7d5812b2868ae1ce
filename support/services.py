"""Writing the tenant's SLA terms: only the responsabile (or a platform superuser) may, every change
is validated (engine.business_hours calendar, four levels with positive times and non-negative
penalties) and audited with the terms before and after. Running tickets keep the terms they were
opened with (support.terms)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.roles import Role
from accounts.selectors import roles_for
from audit.services import audit_record
from common.errors import PermissionRefused

from .models import SupportTerms
from .terms import validate_terms


def terms_update(*, tenant, user, calendar: Any, levels: Any, ip: str | None = None) -> SupportTerms:
    if not (getattr(user, "is_superuser", False) or Role.SUPERVISOR in roles_for(user=user, tenant=tenant)):
        raise PermissionRefused(_("Solo il responsabile modifica i livelli di servizio."))
    calendar, levels = validate_terms(calendar, levels)
    with transaction.atomic():
        row, _created = SupportTerms.objects.select_for_update().get_or_create(tenant=tenant)
        before = {"calendar": row.calendar, "levels": row.levels}
        row.calendar, row.levels = calendar, levels
        row.save()
        audit_record(tenant=tenant, actor=user, action="update", object_type="support_terms", object_id=str(row.pk),
                     object_repr=str(row), summary="Livelli di servizio (SLA) modificati", ip=ip,
                     before=before, after={"calendar": calendar, "levels": levels})
    return row


# --- the reporter's answers to their ticket ------------------------------------------------------------

NOTE_MAX = 5000


def ticket_reporter_answer(*, case, user, message: str, note: Any, ip: str | None = None) -> None:
    """The reporter answers the support team's request for information, confirms the resolution
    or reopens the ticket. The text is checked here; who may deliver the message (only the person
    who reported, `by: starter` in the manifest) and whether the ticket waits for it are checked by
    cases.services.case_message_deliver, which also audits the delivery."""
    from cases.services import case_message_deliver
    from common.errors import ValidationFailed

    from .selectors import REPORTER_MESSAGES

    if message not in REPORTER_MESSAGES:
        raise ValidationFailed(_("Risposta non prevista."), details={"message": ["unknown message"]})
    text = note.strip() if isinstance(note, str) else ""
    if len(text) > NOTE_MAX:
        raise ValidationFailed(_("Il testo supera i 5000 caratteri."), details={"note": ["too long"]})
    if message in ("reporter_info", "reporter_reopen") and len(text) < 3:
        error = (_("Scrivi le informazioni richieste.") if message == "reporter_info"
                 else _("Spiega perché il problema non è risolto."))
        raise ValidationFailed(error, details={"note": ["required"]})
    payload = {"answer": text} if message == "reporter_info" else {"note": text}
    case_message_deliver(case=case, user=user, message=message, payload=payload, ip=ip)
