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
