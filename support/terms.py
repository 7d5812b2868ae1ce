"""The SLA terms of a tenant, with the tender's defaults (seed requirements, issue 12).

Level 4: the application cannot be used or works incorrectly, 2 hours; level 3: a function cannot
be used in specific conditions, 8 hours; level 2: a function cannot be used but the result is
reachable another way, 2 working days; level 1: marginal, 10 working days. Times count the
tenant's service hours. Penalties: a fixed sum per missed ticket plus a sum per started service
hour of delay (the figures are placeholders the tenant sets from its own contract).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from common.errors import ValidationFailed
from engine.business_hours import DEFAULT_CALENDAR, Calendar, sla_target_minutes

LEVELS = ("4", "3", "2", "1")
DEFAULT_LEVELS: dict[str, dict[str, Any]] = {
    "4": {"label": "Bloccante: l'applicazione non è utilizzabile o funziona in modo errato",
          "target": {"hours": 2}, "penalty_fixed": "200.00", "penalty_per_hour": "50.00"},
    "3": {"label": "Grave: una funzione non è utilizzabile in condizioni specifiche",
          "target": {"hours": 8}, "penalty_fixed": "100.00", "penalty_per_hour": "20.00"},
    "2": {"label": "Media: una funzione non è utilizzabile ma il risultato si ottiene in altro modo",
          "target": {"working_days": 2}, "penalty_fixed": "50.00", "penalty_per_hour": "5.00"},
    "1": {"label": "Marginale", "target": {"working_days": 10}, "penalty_fixed": "20.00", "penalty_per_hour": "0.00"},
}


def validate_terms(calendar: Any, levels: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The terms checked and normalised; ValidationFailed names what is wrong (in Italian)."""
    try:
        Calendar(calendar)
    except ValueError as exc:
        raise ValidationFailed(_("Orario di servizio non valido: %(e)s") % {"e": exc}) from exc
    if not isinstance(levels, dict) or set(levels) != set(LEVELS):
        raise ValidationFailed(_("Servono i livelli 1, 2, 3 e 4."))
    clean: dict[str, dict[str, Any]] = {}
    for level in LEVELS:
        entry = levels[level]
        if not isinstance(entry, dict):
            raise ValidationFailed(_("Livello %(l)s non valido.") % {"l": level})
        try:
            minutes = sla_target_minutes(entry.get("target"), calendar)
            fixed = Decimal(str(entry.get("penalty_fixed", "0")))
            per_hour = Decimal(str(entry.get("penalty_per_hour", "0")))
        except (ValueError, InvalidOperation) as exc:
            raise ValidationFailed(_("Livello %(l)s non valido: %(e)s") % {"l": level, "e": exc}) from exc
        if minutes <= 0 or fixed < 0 or per_hour < 0 or not fixed.is_finite() or not per_hour.is_finite():
            raise ValidationFailed(_("Livello %(l)s: tempo positivo e penali non negative.") % {"l": level})
        clean[level] = {"label": str(entry.get("label") or level)[:200], "target": entry["target"],
                        "penalty_fixed": str(fixed.quantize(Decimal("0.01"))),
                        "penalty_per_hour": str(per_hour.quantize(Decimal("0.01")))}
    return dict(calendar), clean


def terms_of(tenant) -> dict[str, Any]:
    """The terms a ticket is opened with: calendar, and per level its label, target in service
    minutes and penalties. The tenant's own terms if set, else the tender's defaults."""
    from .models import SupportTerms

    row = SupportTerms.objects.filter(tenant=tenant).first()
    calendar = dict(row.calendar) if row and row.calendar else dict(DEFAULT_CALENDAR)
    levels = row.levels if row and row.levels else DEFAULT_LEVELS
    if tenant.patron_day_tuple and "patron_day" not in calendar:
        calendar["patron_day"] = list(tenant.patron_day_tuple)
    calendar, levels = validate_terms(calendar, levels)
    return {"calendar": calendar,
            "levels": {lv: {**entry, "minutes": sla_target_minutes(entry["target"], calendar)}
                       for lv, entry in levels.items()}}
