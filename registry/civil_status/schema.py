"""The structured data of an act, per kind: which keys, of which type, which are required.

Keys are English machine names; each maps onto a field of ANSC's event model (registry/ANSC_MAPPING.md).
Anything else is refused: the act's data is what the register certifies, not a free bag.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from common.errors import ValidationFailed

from ..models import ActKind, ActRole

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_TEXT = 300
MAX_ITEMS = 10


@dataclass(frozen=True)
class Field:
    kind: str  # date, time, text, choice, list
    required: bool = False
    choices: tuple[str, ...] = ()


SCHEMAS: dict[str, dict[str, Field]] = {
    ActKind.BIRTH: {
        "birth_date": Field("date", required=True),
        "birth_time": Field("time"),
        "birth_place": Field("text"),
        "sex": Field("choice", choices=("M", "F")),
        "family_name": Field("text", required=True),
        "given_name": Field("text", required=True),
        "father": Field("text"),
        "mother": Field("text"),
        "declarant": Field("text"),
    },
    ActKind.MARRIAGE: {
        "marriage_date": Field("date", required=True),
        "marriage_place": Field("text"),
        "rite": Field("choice", choices=("civil", "concordat", "other_religion")),
        "property_regime": Field("choice", choices=("community", "separation")),
        "witnesses": Field("list"),
    },
    ActKind.DEATH: {
        "death_date": Field("date", required=True),
        "death_time": Field("time"),
        "death_place": Field("text"),
        "declarant": Field("text"),
    },
    ActKind.CITIZENSHIP: {
        "acquisition_date": Field("date", required=True),
        "legal_basis": Field("text"),  # e.g. "art. 9 L. 91/1992"
        "previous_citizenship": Field("text"),  # ISTAT state code
        "oath_date": Field("date"),
    },
    ActKind.CIVIL_UNION: {
        "union_date": Field("date", required=True),
        "union_place": Field("text"),
        "property_regime": Field("choice", choices=("community", "separation")),
        "common_surname": Field("text"),
        "witnesses": Field("list"),
    },
}

# Who must be named in an act of each kind (role -> how many), and which other roles may appear.
REQUIRED_PARTIES: dict[str, dict[str, int]] = {
    ActKind.BIRTH: {ActRole.SUBJECT: 1},
    ActKind.MARRIAGE: {ActRole.SPOUSE: 2},
    ActKind.DEATH: {ActRole.DECEASED: 1},
    ActKind.CITIZENSHIP: {ActRole.SUBJECT: 1},
    ActKind.CIVIL_UNION: {ActRole.PARTNER: 2},
}
OTHER_ROLES = frozenset({ActRole.PARENT, ActRole.DECLARANT, ActRole.WITNESS})

# The date of the event an act records (what the links act on: death date, marriage date, ...).
EVENT_DATE = {ActKind.BIRTH: "birth_date", ActKind.MARRIAGE: "marriage_date", ActKind.DEATH: "death_date",
              ActKind.CITIZENSHIP: "acquisition_date", ActKind.CIVIL_UNION: "union_date"}


def validate_data(kind: str, data: Any) -> dict[str, Any]:
    """The act's data checked against its kind's schema, as JSON-ready values (dates ISO)."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise ValidationFailed(_("Tipo di atto sconosciuto."), code="act_kind_unknown")
    if not isinstance(data, dict):
        raise ValidationFailed(_("I dati dell'atto devono essere un oggetto."), code="act_data_invalid")
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key in data:
        if key not in schema:
            errors.setdefault(str(key)[:40], []).append(_("Campo non previsto per questo tipo di atto."))
    for key, spec in schema.items():
        value = data.get(key)
        if value in (None, "", []):
            if spec.required:
                errors.setdefault(key, []).append(_("Campo obbligatorio."))
            continue
        problem, value = _check(spec, value)
        if problem:
            errors.setdefault(key, []).append(problem)
        else:
            clean[key] = value
    if errors:
        raise ValidationFailed(_("I dati dell'atto non sono validi."), code="act_data_invalid", details=errors)
    return clean


def _check(spec: Field, value: Any) -> tuple[str | None, Any]:
    if spec.kind == "date":
        if isinstance(value, dt.date):
            return None, value.isoformat()
        try:
            return None, dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            return _("Data non valida (AAAA-MM-GG)."), None
    if spec.kind == "time":
        return (None, value) if isinstance(value, str) and _TIME.match(value) else (_("Ora non valida (HH:MM)."), None)
    if spec.kind == "choice":
        return (None, value) if value in spec.choices else (_("Valore non ammesso."), None)
    if spec.kind == "list":
        if not isinstance(value, list) or len(value) > MAX_ITEMS or \
                not all(isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in value):
            return _("Elenco non valido."), None
        return None, value
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        return _("Testo non valido o troppo lungo."), None
    return None, " ".join(value.split())


def event_date(kind: str, data: dict[str, Any]) -> dt.date | None:
    value = data.get(EVENT_DATE[kind])
    return dt.date.fromisoformat(value) if value else None
