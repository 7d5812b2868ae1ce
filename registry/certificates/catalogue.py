"""The registry certificates: what each says and when the register cannot support it.

Each kind turns the register's data (registry.certificates.selectors.CertificateData) into the
body lines of the certificate, or refuses with the reason in Italian (CertificateRefused). Only
the population register is used here; the civil-status certificates (acts) plug into the same
CATALOGUE with their own rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from common.errors import ValidationFailed

from .. import codes
from .fastpdf import Line
from .selectors import CertificateData


class CertificateRefused(ValidationFailed):
    """The register's data cannot support this certificate (the message says why, in Italian)."""


def _d(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _period(start: dt.date | None, end: dt.date | None) -> str:
    if end is None:
        return _("dal %(start)s ad oggi") % {"start": _d(start)}
    return _("dal %(start)s al %(end)s") % {"start": _d(start), "end": _d(end)}


def _born(p) -> str:
    word = _("nata") if p.sex == "F" else _("nato")
    return _("%(born)s a %(place)s il %(date)s") % {"born": word, "place": p.birth_place or _("luogo non indicato"),
                                                   "date": _d(p.birth_date)}


def _identity(data: CertificateData) -> list[Line]:
    p = data.person
    return [
        Line(_("L'Ufficiale d'anagrafe, visti gli atti d'ufficio, certifica che")),
        Line(f"{p.family_name} {p.given_name}", bold=True, space_before=8),
        Line(_born(p) + (f", {_('codice fiscale')} {p.fiscal_code}" if p.fiscal_code else ""), space_before=2),
    ]


def _require_alive(data: CertificateData) -> None:
    if data.person.death_date is not None:
        raise CertificateRefused(_("La persona risulta deceduta il %(date)s: il certificato non può essere rilasciato.")
                                 % {"date": _d(data.person.death_date)}, code="person_dead")


def _require_resident(data: CertificateData) -> None:
    _require_alive(data)
    if data.residence is None:
        raise CertificateRefused(_("La persona non risulta residente nel Comune: il certificato non può essere "
                                   "rilasciato."), code="not_resident")


def _resident_line(data: CertificateData) -> Line:
    return Line(_("risulta residente in questo Comune in %(address)s dal %(date)s.")
                % {"address": data.residence.address, "date": _d(data.residence.start_date)}, space_before=8)


def residence(data: CertificateData) -> list[Line]:
    _require_resident(data)
    return [*_identity(data), _resident_line(data)]


def household(data: CertificateData) -> list[Line]:
    _require_resident(data)
    if data.household is None or not data.members:
        raise CertificateRefused(_("La persona non risulta iscritta in una famiglia anagrafica: lo stato di famiglia "
                                   "non può essere rilasciato."), code="no_household")
    kind = (_("della convivenza anagrafica «%(name)s»") % {"name": data.household.name} if data.household.is_cohabitation
            else _("della famiglia anagrafica"))
    lines = [*_identity(data), _resident_line(data),
             Line(_("e che la sua famiglia anagrafica, alla data odierna, risulta così composta:") if not
                  data.household.is_cohabitation else _("e che risulta componente %(kind)s così composta:")
                  % {"kind": kind}, space_before=8)]
    for i, m in enumerate(data.members, start=1):
        lines.append(Line(f"{i}. {m.family_name} {m.given_name} - {_born(m)} - {m.relationship}", indent=12,
                          space_before=4))
    return lines


def residence_history(data: CertificateData) -> list[Line]:
    if not data.residences:
        raise CertificateRefused(_("Nel registro non risulta alcuna residenza della persona nel Comune: il "
                                   "certificato storico non può essere rilasciato."), code="no_residence_history")
    lines = [*_identity(data), Line(_("ha avuto nel Comune le seguenti residenze:"), space_before=8)]
    for r in data.residences:
        closed = f" ({r.closing_event})" if r.closing_event else ""
        lines.append(Line(f"{_period(r.start_date, r.end_date)}: {r.address}{closed}", indent=12, space_before=4))
    return lines


def household_history(data: CertificateData) -> list[Line]:
    if not data.memberships:
        raise CertificateRefused(_("Nel registro non risulta alcuna famiglia anagrafica della persona: lo stato di "
                                   "famiglia storico non può essere rilasciato."), code="no_household_history")
    lines = [*_identity(data), Line(_("ha fatto parte delle seguenti famiglie anagrafiche, così composte nel periodo "
                                      "di appartenenza:"), space_before=8)]
    for ms in data.memberships:
        lines.append(Line(_("%(household)s, %(period)s, in qualità di %(rel)s:")
                          % {"household": ms.household_label, "period": _period(ms.joined_on, ms.left_on),
                             "rel": ms.relationship}, bold=True, space_before=6))
        for m in ms.members:
            lines.append(Line(f"{m.family_name} {m.given_name}, {_born(m)} - {m.relationship} "
                              f"({_period(m.joined_on, m.left_on)})", indent=12, space_before=2))
    return lines


def citizenship(data: CertificateData) -> list[Line]:
    _require_resident(data)
    if codes.ITALY_ISTAT not in (data.person.citizenships or []):
        raise CertificateRefused(_("Nel registro la persona non risulta cittadina italiana: il certificato di "
                                   "cittadinanza non può essere rilasciato."), code="not_italian")
    return [*_identity(data), _resident_line(data), Line(_("è cittadino italiano.") if data.person.sex != "F"
                                                         else _("è cittadina italiana."), space_before=8)]


def alive(data: CertificateData) -> list[Line]:
    _require_resident(data)
    return [*_identity(data), _resident_line(data),
            Line(_("è in vita alla data di rilascio del presente certificato."), space_before=8)]


def birth(data: CertificateData) -> list[Line]:
    _require_resident(data)
    if not data.person.birth_place:
        raise CertificateRefused(_("Nel registro manca il luogo di nascita della persona: il certificato di nascita "
                                   "non può essere rilasciato."), code="birth_place_missing")
    return [*_identity(data), _resident_line(data),
            Line(_("risulta nato/a a %(place)s il %(date)s, come da registrazione anagrafica.")
                 % {"place": data.person.birth_place, "date": _d(data.person.birth_date)}, space_before=8)]


@dataclass(frozen=True)
class Kind:
    code: str
    title: str
    rules: Callable[[CertificateData], list[Line]]
    label: object  # lazily translated, for the pages

    @property
    def document_kind(self) -> str:
        return f"certificato_{self.code}"


CATALOGUE: dict[str, Kind] = {k.code: k for k in (
    Kind("residenza", "Certificato di residenza", residence, gettext_lazy("Residenza")),
    Kind("stato_famiglia", "Certificato di stato di famiglia", household, gettext_lazy("Stato di famiglia")),
    Kind("residenza_storico", "Certificato storico di residenza", residence_history,
         gettext_lazy("Residenza con storico degli indirizzi")),
    Kind("stato_famiglia_storico", "Certificato di stato di famiglia storico", household_history,
         gettext_lazy("Stato di famiglia storico")),
    Kind("cittadinanza", "Certificato di cittadinanza", citizenship, gettext_lazy("Cittadinanza")),
    Kind("esistenza_in_vita", "Certificato di esistenza in vita", alive, gettext_lazy("Esistenza in vita")),
    Kind("nascita", "Certificato anagrafico di nascita", birth, gettext_lazy("Anagrafico di nascita")),
)}
