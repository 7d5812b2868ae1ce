"""The registry certificates: what each says and when the register cannot support it.

Each kind turns the register's data (registry.certificates.selectors.CertificateData) into the
body lines of the certificate, or refuses with the reason in Italian (CertificateRefused). The
population-register certificates read CertificateData; the civil-status ones (the tender's 1-5, 8,
9) read one act of the civil-status registers (selectors.ActCertificateData): a certificate states
the act's data (rectifications applied), an extract (estratto per riassunto) also every annotation,
and a certificate that cannot show an annotation which changes what it states (a divorce, an
annulment, a dissolved civil union) is refused in favour of the extract.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.roles import Role
from common.errors import ValidationFailed

from .. import codes
from . import layout
from .fastpdf import Line
from .selectors import ActCertificateData, CertificateData

REGISTRY_ISSUERS = frozenset({Role.REGISTRAR, Role.SUPERVISOR})
CIVIL_ISSUERS = frozenset({Role.REGISTRAR, Role.CIVIL_REGISTRAR, Role.SUPERVISOR})
# Certificates, copies and extracts of the civil-status registers are exempt from stamp duty
# whatever their use (art. 7, comma 5, L. 405/1990): printed instead of a use of the ANPR table.
CIVIL_STATUS_EXEMPTION = "certificati ed estratti dei registri dello stato civile (art. 7, comma 5, L. 405/1990)"


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


# --- civil-status certificates and extracts (from the acts) --------------------------------------

# the annotations that end or void the bond a certificate states (it shows no annotation: refused)
_BOND_ENDED = {"marriage": ("divorce", "annulment"), "civil_union": ("union_dissolution", "annulment")}
_REGISTER = {"birth": gettext_lazy("nascita"), "marriage": gettext_lazy("matrimonio"), "death": gettext_lazy("morte"),
             "civil_union": gettext_lazy("unione civile")}
_RITE = {"civil": gettext_lazy("con rito civile"), "concordat": gettext_lazy("con rito concordatario"),
         "other_religion": gettext_lazy("con rito religioso di un culto ammesso")}
_REGIME = {"community": gettext_lazy("comunione dei beni"), "separation": gettext_lazy("separazione dei beni")}


def _date_of(value) -> str:
    if not value:
        return ""
    try:
        return _d(dt.date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _person_line(p) -> str:
    cf = f", {_('codice fiscale')} {p.fiscal_code}" if p.fiscal_code else ""
    return f"{p.family_name} {p.given_name}, {_born(p)}{cf}"


def _the_act(data: ActCertificateData, act_kind: str, role_label: str) -> None:
    """The refusals common to every act: none or several found, another register, not closed,
    the person not the subject of the act."""
    register = _REGISTER[act_kind]
    if data.act is None:
        if data.candidates > 1:
            raise CertificateRefused(_("La persona risulta in %(n)s atti di %(register)s: scegli l'atto dalla sua scheda "
                                       "e rilascia il certificato da lì.") % {"n": data.candidates, "register": register},
                                     code="several_acts")
        raise CertificateRefused(_("Nei registri dello stato civile non risulta alcun atto di %(register)s chiuso che "
                                   "riguardi la persona come %(role)s: il certificato non può essere rilasciato.")
                                 % {"register": register, "role": role_label}, code="no_act")
    if data.act.kind != act_kind:
        raise CertificateRefused(_("L'atto scelto non è un atto di %(register)s.") % {"register": register},
                                 code="act_kind_mismatch")
    if not data.act.closed:
        raise CertificateRefused(_("L'atto è ancora in redazione: si certifica solo un atto chiuso e numerato."),
                                 code="act_not_closed")
    if not data.person_in_act:
        raise CertificateRefused(_("%(name)s non è %(role)s nell'atto %(ref)s: il certificato non può essere rilasciato "
                                   "per questa persona.") % {"name": f"{data.person.family_name} {data.person.given_name}",
                                                             "role": role_label, "ref": data.act.reference},
                                 code="not_subject")


def _act_intro(data: ActCertificateData, act_kind: str, *, extract: bool) -> list[Line]:
    intro = (_("L'Ufficiale dello stato civile, visti i registri dello stato civile, rilascia il presente estratto per "
               "riassunto e certifica che")
             if extract else _("L'Ufficiale dello stato civile, visti i registri dello stato civile, certifica che"))
    a = data.act
    return [Line(intro),
            Line(_("nel registro degli atti di %(register)s, atto %(ref)s, formato il %(date)s (%(office)s), risulta "
                   "che:") % {"register": _REGISTER[act_kind], "ref": a.reference, "date": _d(a.act_date),
                              "office": a.office}, space_before=4)]


def _not_ended(data: ActCertificateData, what: str, extract_hint: str) -> None:
    ended = [a for a in data.annotations if a.kind in _BOND_ENDED.get(data.act.kind, ())]
    if ended:
        a = ended[0]
        raise CertificateRefused(
            _("L'atto %(ref)s reca l'annotazione «%(label)s» del %(date)s: il %(what)s non riporta le annotazioni e non "
              "può essere rilasciato. %(hint)s") % {"ref": data.act.reference, "label": a.label, "date": _d(a.date),
                                                    "what": what, "hint": extract_hint}, code="bond_ended")


def _annotations(data: ActCertificateData) -> list[Line]:
    if not data.annotations:
        return [Line(_("Annotazioni: nessuna annotazione a margine dell'atto."), space_before=10)]
    lines = [Line(_("Estratto con annotazioni. Annotazioni a margine dell'atto:"), bold=True, space_before=10)]
    for a in data.annotations:
        extra = ", ".join(x for x in (a.authority, a.reference) if x)
        text = f"{_d(a.date)}: {a.label}" + (f" ({extra})" if extra else "") + (f" - {a.text}" if a.text else "")
        lines.append(Line(text, indent=12, space_before=3))
    return lines


def _spouses(data: ActCertificateData) -> list[Line]:
    lines = []
    for i, p in enumerate(data.principals):
        lines.append(Line((_("e ") if i else "") + _person_line(p), bold=True, space_before=6 if not i else 2))
    return lines


def _marriage_body(data: ActCertificateData) -> list[Line]:
    d = data.act.data
    place = f" {_('a')} {d['marriage_place']}" if d.get("marriage_place") else ""
    rite = f" {_RITE[d['rite']]}" if d.get("rite") in _RITE else ""
    lines = [*_spouses(data), Line(_("hanno contratto matrimonio%(place)s il %(date)s%(rite)s.")
                                   % {"place": place, "date": _date_of(d.get("marriage_date")), "rite": rite},
                                   space_before=6)]
    return lines


def marriage_certificate(data: ActCertificateData) -> list[Line]:
    _the_act(data, "marriage", _("coniuge"))
    _not_ended(data, _("certificato di matrimonio"),
               _("Rilascia l'estratto per riassunto dell'atto di matrimonio, che riporta le annotazioni."))
    return [*_act_intro(data, "marriage", extract=False), *_marriage_body(data)]


def marriage_extract(data: ActCertificateData) -> list[Line]:
    _the_act(data, "marriage", _("coniuge"))
    d = data.act.data
    lines = [*_act_intro(data, "marriage", extract=True), *_marriage_body(data)]
    if d.get("property_regime") in _REGIME:
        lines.append(Line(_("Regime patrimoniale scelto: %(r)s.") % {"r": _REGIME[d["property_regime"]]},
                          space_before=4))
    return [*lines, *_annotations(data)]


def _death_body(data: ActCertificateData) -> list[Line]:
    d = data.act.data
    p = data.principals[0]
    place = f" {_('a')} {d['death_place']}" if d.get("death_place") else ""
    time = f" {_('alle ore')} {d['death_time']}" if d.get("death_time") else ""
    word = _("è deceduta") if p.sex == "F" else _("è deceduto")
    return [Line(_person_line(p), bold=True, space_before=6),
            Line(f"{word}{place} {_('il')} {_date_of(d.get('death_date'))}{time}.", space_before=4)]


def death_certificate(data: ActCertificateData) -> list[Line]:
    _the_act(data, "death", _("defunto"))
    return [*_act_intro(data, "death", extract=False), *_death_body(data)]


def death_extract(data: ActCertificateData) -> list[Line]:
    _the_act(data, "death", _("defunto"))
    return [*_act_intro(data, "death", extract=True), *_death_body(data), *_annotations(data)]


def birth_extract(data: ActCertificateData) -> list[Line]:
    """Without the parents: an extract with paternity and maternity is only for the cases of art. 3
    D.P.R. 432/1957 (not issued here)."""
    _the_act(data, "birth", _("intestatario"))
    d = data.act.data
    place = f" {_('a')} {d['birth_place']}" if d.get("birth_place") else ""
    time = f" {_('alle ore')} {d['birth_time']}" if d.get("birth_time") else ""
    sex = d.get("sex") or data.principals[0].sex
    word = _("è nata") if sex == "F" else _("è nato")
    sex_line = f", {_('sesso')} {sex}" if sex in ("M", "F") else ""
    return [*_act_intro(data, "birth", extract=True),
            Line(f"{d.get('family_name', '')} {d.get('given_name', '')}{sex_line}", bold=True, space_before=6),
            Line(f"{word}{place} {_('il')} {_date_of(d.get('birth_date'))}{time}.", space_before=4),
            *_annotations(data)]


def _union(data: ActCertificateData, *, witnesses: bool) -> list[Line]:
    _the_act(data, "civil_union", _("parte dell'unione civile"))
    _not_ended(data, _("certificato di unione civile"), _("L'unione civile non è più in essere."))
    if witnesses and not data.witnesses:
        raise CertificateRefused(_("L'atto %(ref)s non riporta i testimoni: rilascia il certificato di unione civile "
                                   "senza testimoni.") % {"ref": data.act.reference}, code="no_witnesses")
    d = data.act.data
    place = f" {_('a')} {d['union_place']}" if d.get("union_place") else ""
    lines = [*_act_intro(data, "civil_union", extract=False), *_spouses(data),
             Line(_("hanno costituito un'unione civile tra persone dello stesso sesso%(place)s il %(date)s "
                    "(L. 76/2016).") % {"place": place, "date": _date_of(d.get("union_date"))}, space_before=6)]
    if d.get("common_surname"):
        lines.append(Line(_("Cognome comune scelto: %(s)s.") % {"s": d["common_surname"]}, space_before=4))
    if d.get("property_regime") in _REGIME:
        lines.append(Line(_("Regime patrimoniale: %(r)s.") % {"r": _REGIME[d["property_regime"]]}, space_before=4))
    if witnesses:
        lines.append(Line(_("Testimoni: %(w)s.") % {"w": ", ".join(data.witnesses)}, space_before=4))
    return lines


def union_with_witnesses(data: ActCertificateData) -> list[Line]:
    return _union(data, witnesses=True)


def union_certificate(data: ActCertificateData) -> list[Line]:
    return _union(data, witnesses=False)


@dataclass(frozen=True)
class Kind:
    code: str
    title: str
    rules: Callable[..., list[Line]]  # (CertificateData | ActCertificateData) -> body lines
    label: object  # lazily translated, for the pages
    act_kind: str = ""  # civil-status certificates: the register they certify from
    principal_role: str = ""  # ... and the role of the person the certificate is about
    issuers: frozenset[str] = REGISTRY_ISSUERS
    stamp_exemption: str = ""  # exempt by law whatever the use (printed), or "" (the use decides)
    validity: str = layout.SIX_MONTHS

    @property
    def document_kind(self) -> str:
        return f"certificato_{self.code}"

    @property
    def is_civil_status(self) -> bool:
        return bool(self.act_kind)

    @property
    def layout_args(self) -> tuple[str, ...]:
        return (self.title, layout.CIVIL_OFFICE, self.validity) if self.act_kind else (self.title,)


def _civil(code: str, title: str, rules, label, act_kind: str, role: str, validity: str = layout.SIX_MONTHS) -> Kind:
    return Kind(code, title, rules, label, act_kind=act_kind, principal_role=role, issuers=CIVIL_ISSUERS,
                stamp_exemption=CIVIL_STATUS_EXEMPTION, validity=validity)


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
    # the tender's civil-status certificates (numbers of the tender's list)
    _civil("matrimonio", "Certificato di matrimonio", marriage_certificate, gettext_lazy("1. Matrimonio"),
           "marriage", "spouse"),
    _civil("morte", "Certificato di morte", death_certificate, gettext_lazy("2. Morte"), "death", "deceased",
           layout.UNLIMITED),
    _civil("estratto_nascita", "Estratto per riassunto dell'atto di nascita", birth_extract,
           gettext_lazy("3. Estratto dell'atto di nascita"), "birth", "subject"),
    _civil("estratto_matrimonio", "Estratto per riassunto dell'atto di matrimonio", marriage_extract,
           gettext_lazy("4. Estratto dell'atto di matrimonio"), "marriage", "spouse"),
    _civil("estratto_morte", "Estratto per riassunto dell'atto di morte", death_extract,
           gettext_lazy("5. Estratto dell'atto di morte"), "death", "deceased", layout.UNLIMITED),
    _civil("unione_civile_testimoni", "Certificato di unione civile con testimoni", union_with_witnesses,
           gettext_lazy("8. Unione civile con testimoni"), "civil_union", "partner"),
    _civil("unione_civile", "Certificato di unione civile", union_certificate, gettext_lazy("9. Unione civile"),
           "civil_union", "partner"),
)}
