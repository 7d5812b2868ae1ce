"""ANPR engine operations (BPMN service tasks and `connector_call`).

Register changes (5005, 1002, 5012, 1013) carry an `idOperazioneComune` derived
from the outbox idempotency key: a retry after a lost answer gets ANPR's first
answer back instead of a second change. Lookups and P000 calls are reads or
status updates that can be repeated safely.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.utils.translation import gettext as _

from common.operations import OperationContext, OperationParam, operation

from ..base.errors import InvalidRequest, InvalidResponse
from . import messages, soap
from .client import AnprClient, Caller, soap_operation_id
from .request_states import state_code


def _municipality(istat: str) -> tuple[str, str] | None:
    """(name, province) of the municipality in force with this ISTAT code, from ANPR's archive of
    municipalities as loaded into the database (`manage.py load_municipalities`)."""
    from django.apps import apps  # the table belongs to the forms app; no import of its code

    found = (apps.get_model("procedo_forms", "Municipality").objects
             .filter(istat_code=istat, current=True).values_list("name", "province").first())
    return (found[0], found[1]) if found else None


def _client(ctx: OperationContext) -> AnprClient:
    return AnprClient.from_config(ctx.tenant_id, sender=ctx.tenant_istat)


def _caller(params: dict[str, Any], ctx: OperationContext) -> Caller:
    return Caller(user_id=str(params.get("user_id") or (f"pratica {ctx.case_number}" if ctx.case_number else "procedo")),
                  location=str(params.get("user_location") or f"procedo-{ctx.tenant_istat}"),
                  loa=str(params.get("loa") or "LoA3"))


# What `_caller` reads: who, from where and at which level of assurance asks ANPR (all defaulted).
_CALLER_PARAMS = ("user_id", "user_location", "loa")
_LOOKUP_PARAMS = (OperationParam("fiscal_code", required=True), "reason", *_CALLER_PARAMS)


def _fiscal_code(value: Any, field: str = "fiscal_code") -> str:
    code = str(value or "").strip().upper()
    if len(code) != 16 or not code.isalnum():
        raise InvalidRequest(_("Codice fiscale non valido: %(value)s") % {"value": value or "-"},
                             details={field: ["invalid"]})
    return code


def anpr_address(address: dict[str, Any]) -> dict[str, Any]:
    """Our form's address (street, house_number, postal_code, municipality_istat) in ANPR's terms."""
    istat = str(address.get("municipality_istat") or "")
    name, province = address.get("municipality_name"), address.get("province")
    if not (name and province):
        found = _municipality(istat)
        if found is None:
            raise InvalidRequest(_("Comune con codice ISTAT %(code)s non trovato tra i comuni in vigore.")
                                 % {"code": istat or "-"}, details={"municipality_istat": ["unknown"]})
        name, province = found
    street = str(address.get("street") or "").strip()
    species, _sep, rest = street.partition(" ")
    known_species = {"VIA", "PIAZZA", "VIALE", "CORSO", "LARGO", "VICOLO", "PIAZZALE", "LOCALITA", "STRADA"}
    if species.upper() in known_species and rest:
        species, street = species.upper(), rest
    else:
        species = "VIA"
    return {"postcode": str(address.get("postal_code") or address.get("postcode") or "00000"),
            "municipality_istat": istat, "municipality_name": str(name).upper(), "province": province,
            "species": species, "street": street.upper(), "house_number": "".join(
                c for c in str(address.get("house_number") or "") if c.isdigit()) or None,
            "letter": "".join(c for c in str(address.get("house_number") or "") if c.isalpha()) or None}


# --- lookups (REST via PDND) ------------------------------------------------------------------------

def _lookup(code: str, params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    return _client(ctx).lookup(code, _fiscal_code(params.get("fiscal_code")), caller=_caller(params, ctx),
                               reason=str(params.get("reason") or "")).as_dict()


@operation("anpr.c020_residence_lookup", description="Accerta la residenza di una persona in ANPR (e-service C020)",
           params=_LOOKUP_PARAMS)
def c020_residence_lookup(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: fiscal_code, reason. result: found, subjects [{fiscal_code, names, id_anpr, address}]."""
    return _lookup("C020", params, ctx)


@operation("anpr.c021_family_lookup", description="Accerta lo stato di famiglia in ANPR (e-service C021)",
           params=_LOOKUP_PARAMS)
def c021_family_lookup(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    return _lookup("C021", params, ctx)


# ANPR table "Stato civile" (specs/anpr/xlsx/tab_Stato_civile.xlsx).
CIVIL_STATUS_LABELS = {"1": "celibe/nubile", "2": "coniugato/a", "3": "vedovo/a", "4": "divorziato/a",
                       "6": "unito/a civilmente", "7": "stato libero dopo il decesso della parte unita civilmente",
                       "8": "stato libero dopo lo scioglimento dell'unione civile", "9": "non classificabile"}
BOUND = {"2", "6"}  # a marriage or civil union in force: not free to marry (art. 86 c.c.)
FORMERLY_BOUND = {"3", "4", "7", "8"}
SPOUSE_RELATION = "2"  # table "Relazione di parentela": marito/moglie of the head of the household
HEAD_RELATION = "1"


@operation("anpr.spouses_status_check",
           description="Confronta con ANPR (C020 stato civile e residenza, C021 famiglia) quanto dichiarato dagli sposi",
           params=(OperationParam("spouses", required=True), OperationParam("residence_lookups", required=True),
                   "reason"))
def spouses_status_check(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: spouses (the start form's two spouses: fiscal_code, residence_municipality_istat,
    previous_marriage_dissolved, citizenship), residence_lookups (the C020 results of each, in the same
    order), reason. result: ok, mismatches [{spouse, field, declared, anpr, text}], spouses [{fiscal_code,
    found, civil_status, civil_status_label, residence_municipality_istat, household [{fiscal_code,
    relation}]}].

    The banns need both spouses free to marry (art. 86 c.c.) and resident where they say (art. 50 D.P.R.
    396/2000: the publication goes to each municipality of residence). C020 gives each one's civil status
    and residence, C021 their household: a husband or wife living with them who is not the other spouse
    contradicts a declared free status. A mismatch is not a refusal: the officer looks at it."""
    spouses = params.get("spouses")
    lookups = params.get("residence_lookups")
    if not isinstance(spouses, list) or len(spouses) != 2 or not all(isinstance(s, dict) for s in spouses):
        raise InvalidRequest(_("Servono i dati dei due sposi."), details={"spouses": ["two_required"]})
    if not isinstance(lookups, list) or len(lookups) != 2:
        raise InvalidRequest(_("Servono gli esiti ANPR (C020) dei due sposi."), details={"residence_lookups": ["two_required"]})
    codes = [_fiscal_code(s.get("fiscal_code"), "spouses") for s in spouses]
    reason = str(params.get("reason") or "pubblicazioni di matrimonio")
    mismatches: list[dict[str, Any]] = []
    checked: list[dict[str, Any]] = []
    for index, (declared, code) in enumerate(zip(spouses, codes, strict=True)):
        number = index + 1
        other = codes[1 - index]
        residence = lookups[index] if isinstance(lookups[index], dict) else {}
        subject = next((x for x in residence.get("subjects") or [] if isinstance(x, dict)
                        and str(x.get("fiscal_code", "")).upper() == code), None)

        def mismatch(field: str, declared_value: Any, anpr_value: Any, text: str, number: int = number) -> None:
            mismatches.append({"spouse": number, "field": field, "declared": declared_value, "anpr": anpr_value,
                               "text": text})

        declared_istat = str(declared.get("residence_municipality_istat") or "")
        if subject is None:
            if declared_istat:  # resident in Italy by their own account, unknown to ANPR
                mismatch("found", True, False, _("Sposo %(n)s: %(cf)s non risulta residente in ANPR.")
                         % {"n": number, "cf": code})
            checked.append({"fiscal_code": code, "found": False, "civil_status": "", "civil_status_label": "",
                            "residence_municipality_istat": "", "household": []})
            continue
        status = str(subject.get("civil_status") or "")
        anpr_istat = str((subject.get("address") or {}).get("municipality_istat") or "")
        if declared_istat and anpr_istat and declared_istat != anpr_istat:
            mismatch("residence_municipality_istat", declared_istat, anpr_istat,
                     _("Sposo %(n)s: residenza dichiarata nel comune %(d)s, in ANPR nel comune %(a)s.")
                     % {"n": number, "d": declared.get("residence_municipality") or declared_istat,
                        "a": (subject.get("address") or {}).get("municipality_name") or anpr_istat})
        label = CIVIL_STATUS_LABELS.get(status, status)
        if status in BOUND:
            mismatch("civil_status", "libero", status, _("Sposo %(n)s: in ANPR risulta %(s)s (art. 86 c.c.).")
                     % {"n": number, "s": label})
        elif declared.get("previous_marriage_dissolved") and status == "1":
            mismatch("civil_status", "matrimonio precedente sciolto", status,
                     _("Sposo %(n)s: dichiara un matrimonio precedente sciolto, in ANPR risulta %(s)s.")
                     % {"n": number, "s": label})
        elif not declared.get("previous_marriage_dissolved") and status in FORMERLY_BOUND:
            mismatch("civil_status", "mai sposato", status,
                     _("Sposo %(n)s: non dichiara un matrimonio precedente, in ANPR risulta %(s)s.")
                     % {"n": number, "s": label})
        family = _lookup("C021", {**params, "fiscal_code": code, "reason": reason}, ctx)
        members = [{"fiscal_code": str(m.get("fiscal_code") or "").upper(), "relation": str(m.get("relation") or "")}
                   for m in family.get("subjects") or []]
        own = next((m["relation"] for m in members if m["fiscal_code"] == code), "")
        if own == HEAD_RELATION:
            partners = [m["fiscal_code"] for m in members if m["relation"] == SPOUSE_RELATION]
        elif own == SPOUSE_RELATION:
            partners = [m["fiscal_code"] for m in members if m["relation"] == HEAD_RELATION]
        else:
            partners = []
        for partner in partners:
            if partner != other:
                mismatch("household", "", partner,
                         _("Sposo %(n)s: nella sua famiglia anagrafica (C021) risulta coniugato con %(p)s.")
                         % {"n": number, "p": partner})
        checked.append({"fiscal_code": code, "found": True, "civil_status": status, "civil_status_label": label,
                        "residence_municipality_istat": anpr_istat, "household": members,
                        "family_operation_id": family.get("anpr_operation_id", "")})
    return {"ok": not mismatches, "mismatches": mismatches, "spouses": checked}


@operation("anpr.household_for_move",
           description="Accerta in ANPR (C021) la famiglia a cui si aggiungono i dichiaranti, o ne costituisce una nuova",
           params=("joins_household_of", "declarants", "co_movers", *_CALLER_PARAMS))
def household_for_move(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    return _household_for_move(params, ctx)


def _household_for_move(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: joins_household_of (fiscal code of a member, normally the head, of an existing household;
    "" for a new one),
    declarants, co_movers (for the count). result: kind (existing | new), family_id_anpr, head
    {fiscal_code, given_name, family_name} and members (fiscal codes) of the household joined, movers.

    The family the declarants join is the one ANPR knows for that person (C021 for its members and
    their relationships, C020 for the family id): a household that
    ANPR does not know, or whose head is not resident, is an incident the registrar can send back to
    the declaration to correct. A new household needs no lookup (no call to ANPR)."""
    movers = [str(p.get("fiscal_code") or "").upper() for p in
              [*(params.get("declarants") or []), *(params.get("co_movers") or [])] if isinstance(p, dict)]
    head_code = str(params.get("joins_household_of") or "").strip().upper()
    if head_code in ("", "NUOVA"):  # NUOVA: the registrar corrected the declaration to a new household
        return {"kind": "new", "family_id_anpr": None, "head": None, "members": [], "movers": movers}
    head_code = _fiscal_code(head_code, "joins_household_of")
    if head_code in movers:
        raise InvalidRequest(_("L'intestatario della famiglia a cui ci si aggiunge non può essere tra chi si trasferisce."),
                             details={"joins_household_of": ["is_mover"]})
    reason = "cambio di residenza: famiglia di destinazione"
    found = _lookup("C021", {**params, "fiscal_code": head_code, "reason": reason}, ctx)
    family_id = ""
    if found["found"] and found["subjects"]:
        # C021 gives the composition and each member's relationship, not the family's id: C020 on the
        # person named gives the id ANPR's register change needs (idFamigliaConvivenzaANPR).
        residence = _lookup("C020", {**params, "fiscal_code": head_code, "reason": reason}, ctx)
        family_id = next((s.get("family_id_anpr") for s in residence["subjects"] if s.get("family_id_anpr")), "")
    if not family_id:
        raise InvalidRequest(
            _("%(cf)s non risulta in ANPR come componente di una famiglia residente: correggere la famiglia "
              "a cui si aggiungono i dichiaranti, o lasciarla vuota per una nuova famiglia.") % {"cf": head_code},
            details={"joins_household_of": ["not_found"]})
    head = next((s for s in found["subjects"] if str(s.get("relation")) == "1"), found["subjects"][0])
    return {"kind": "existing", "family_id_anpr": family_id, "anpr_operation_id": found["anpr_operation_id"],
            "head": {"fiscal_code": head.get("fiscal_code", ""), "given_name": head.get("given_name", ""),
                     "family_name": head.get("family_name", "")},
            "members": [s.get("fiscal_code", "") for s in found["subjects"]], "movers": movers}


@operation("anpr.c030_national_id", description="Accerta l'identificativo unico nazionale ANPR (e-service C030)",
           params=_LOOKUP_PARAMS)
def c030_national_id(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    result = _lookup("C030", params, ctx)
    result["id_anpr"] = result["subjects"][0]["id_anpr"] if result["subjects"] else None
    return result


# --- register changes (SOAP) -------------------------------------------------------------------------

@operation(
    "anpr.mutazione_residenza",
    description="Registra in ANPR il cambio di residenza (5005 nel comune, 1002 da altro comune o dall'estero)",
    remember=True,
    params=(OperationParam("declarants", required=True), OperationParam("new_address", required=True), "co_movers",
            "joins_household_of", "household", "declaration_date", "case_number", "origin", "previous_municipality",
            *_CALLER_PARAMS),
)
def mutazione_residenza(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: declarants [{fiscal_code, given_name, family_name, birth_date}], co_movers (same, with
    relationship), joins_household_of (looked up as anpr.household_for_move does; or household, that
    operation's result), new_address, declaration_date,
    case_number, origin (same_municipality | other_municipality | abroad), previous_municipality (ISTAT code,
    for other_municipality: sent as the provenance).
    result: esito, operation (5005|1002), operation_id, id_operazione_anpr, family_id_anpr."""
    declarants = [p for p in params.get("declarants") or [] if isinstance(p, dict)]
    if not declarants:
        raise InvalidRequest(_("Nessun dichiarante indicato."), details={"declarants": ["required"]})
    co_movers = [p for p in params.get("co_movers") or [] if isinstance(p, dict)]
    # The household the movers join, asked of ANPR before any change (a wrong one is the case's data
    # to correct: the registrar is sent back to `registration`); or the one a test model hands over.
    household = (_household_for_move(params, ctx) if "joins_household_of" in params
                 else params.get("household") if isinstance(params.get("household"), dict) else {})
    joins = household.get("kind") == "existing" and bool(household.get("family_id_anpr"))
    movers = _movers(declarants, co_movers, joins=joins)
    address = anpr_address(params.get("new_address") or {})
    effective = str(params.get("declaration_date") or dt.date.today().isoformat())
    client = _client(ctx)
    origin = str(params.get("origin") or "same_municipality")
    if origin == "same_municipality":
        done = _change_within_comune(client, params, ctx, movers=movers, address=address, effective=effective,
                                     family_to_join=household.get("family_id_anpr") if joins else None)
    else:
        done = _register_each(client, params, ctx, movers=movers, address=address, effective=effective,
                              family_to_join=household.get("family_id_anpr") if joins else None, origin=origin)
    first = done["registrations"][0]
    return {"esito": "OK", "operation": first["operation"], "operation_id": first["operation_id"],
            "id_operazione_anpr": first["id_operazione_anpr"], "family_id_anpr": done["family_id_anpr"],
            "scope": done["scope"], "registrations": done["registrations"],
            "household": {**household, "kind": household.get("kind") or "new",
                          "family_id_anpr": household.get("family_id_anpr") or done["family_id_anpr"]},
            "co_movers": [m["fiscal_code"] for m in movers[len(declarants):]]}


# The relationship declared for a person moving (start form) as ANPR table 5 codes
# (registry/data/relationship.csv); the Italian words are what a registrar types for a declarant.
RELATIONSHIPS = {"spouse": 2, "child": 3, "grandchild": 4, "parent": 6, "sibling": 9, "other_relative": 13,
                 "in_law": 22, "cohabitant": 23, "ward": 26, "civil_partner": 28}
_RELATIONSHIP_WORDS = {"coniuge": 2, "moglie": 2, "marito": 2, "figlio": 3, "figlia": 3, "nipote": 4,
                       "padre": 6, "madre": 6, "genitore": 6, "fratello": 9, "sorella": 9, "suocero": 22,
                       "suocera": 22, "convivente": 23, "unito civilmente": 28, "unita civilmente": 28}
RELATIONSHIP_UNDECLARED = 99  # "Non definito/comunicato"


def relationship_code(value: Any) -> int:
    text = " ".join(str(value or "").strip().lower().split())
    return RELATIONSHIPS.get(text) or _RELATIONSHIP_WORDS.get(text) or RELATIONSHIP_UNDECLARED


def _movers(declarants: list[dict[str, Any]], co_movers: list[dict[str, Any]], *, joins: bool) -> list[dict[str, Any]]:
    """Everyone who moves, declarants first, with their ANPR table-5 relationship in the family they
    end up in: joining a household, each person's declared relationship with its head; forming a new
    one, the first declarant is its head (1)."""
    movers, seen = [], set()
    for index, person in enumerate([*declarants, *co_movers]):
        code = _fiscal_code(person.get("fiscal_code"),
                            f"declarants.{index}.fiscal_code" if index < len(declarants)
                            else f"co_movers.{index - len(declarants)}.fiscal_code")
        if code in seen:
            raise InvalidRequest(_("%(cf)s è indicato più volte tra chi si trasferisce.") % {"cf": code},
                                 details={"co_movers": ["duplicate"]})
        seen.add(code)
        relation = 1 if index == 0 and not joins else relationship_code(person.get("relationship"))
        movers.append({"fiscal_code": code, "family_name": str(person.get("family_name", "")).upper(),
                       "given_name": str(person.get("given_name", "")).upper(),
                       "birth_date": person.get("birth_date"), "relationship": str(relation)})
    return movers


def _change_within_comune(client: AnprClient, params: dict[str, Any], ctx: OperationContext, *,
                          movers: list[dict[str, Any]], address: dict[str, Any], effective: str,
                          family_to_join: str | None) -> dict[str, Any]:
    """One 5005 for everybody (a change within the comune is one operation on a family sheet):
    - joining a household already at the address: the movers enter that family (listed, sheet 1);
    - the first declarant's whole ANPR family moving, and nobody else: the family moves (not listed);
    - otherwise (part of a family, or people of several families, forming a new household): the
      movers leave their families and form a new one (listed, sheet 2, the first declarant its head)."""
    head = movers[0]["fiscal_code"]
    found = client.lookup("C020", head, caller=_caller(params, ctx), reason="cambio di abitazione")
    family_id = found.subjects[0].get("family_id_anpr") if found.found else None
    if not family_id:
        raise InvalidRequest(
            _("%(cf)s non risulta residente in ANPR: per chi proviene da altro comune o dall'estero "
              "indicare la provenienza corretta.") % {"cf": head},
            details={"origin": ["not_resident"]})
    codes = [m["fiscal_code"] for m in movers]
    if family_to_join:
        scope, target, members, sheet = "join_family", family_to_join, movers, messages.SHEET_EXISTING
    else:
        family = client.lookup("C021", head, caller=_caller(params, ctx), reason="cambio di abitazione")
        current = {s.get("fiscal_code") for s in family.subjects} or {head}
        if current == set(codes):
            scope, target, members, sheet = "whole_family", family_id, None, messages.SHEET_EXISTING
        else:
            scope, target, members, sheet = "new_family", None, movers, messages.SHEET_NEW
    operation_id = soap_operation_id(ctx.idempotency_key)
    answer = client.call(soap.MUTAZIONE, messages.mutazione_residenza(
        client.header("5005", operation_id, effective_date=effective), family_id_anpr=target, address=address,
        effective_date=effective, case_number=params.get("case_number"), members=members, sheet=sheet))
    new_family = _answered_family(answer) or target or family_id
    return {"scope": scope, "family_id_anpr": new_family,
            "registrations": [{"fiscal_codes": codes, "fiscal_code": head, "operation": "5005",
                               "operation_id": operation_id, "id_operazione_anpr": answer.anpr_operation_id}]}


def _register_each(client: AnprClient, params: dict[str, Any], ctx: OperationContext, *,
                   movers: list[dict[str, Any]], address: dict[str, Any], effective: str,
                   family_to_join: str | None, origin: str) -> dict[str, Any]:
    """One 1002 per person (a registration names one person), each with its own idOperazioneComune
    derived from the step's idempotency key and the person's fiscal code: stable across retries (a
    retry after the second person failed gets the first person's original answer back, nothing is
    registered twice) and distinct per person. The first forms the new family (or joins the household
    named); the others are attached to the family ANPR gave the first (attribuzioneFamiglia 5)."""
    provenance = None
    previous = _municipality(str(params.get("previous_municipality") or ""))
    if origin == "other_municipality" and previous is not None:
        provenance = {"name": previous[0], "istat": params["previous_municipality"], "province": previous[1]}
    family_id = family_to_join
    registrations = []
    for mover in movers:
        if family_id:
            family = {"family_id_anpr": family_id, "movement": messages.MOVEMENT_EXISTING_FAMILY,
                      "relationship": mover["relationship"], "since": effective}
        else:
            family = {"family_id_anpr": None, "movement": messages.MOVEMENT_NEW_FAMILY, "relationship": "1",
                      "since": effective}
        operation_id = soap_operation_id(f"{ctx.idempotency_key}:{mover['fiscal_code']}")
        answer = client.call(soap.ISCRIZIONE, messages.iscrizione(
            client.header("1002", operation_id, effective_date=effective),
            person={k: mover[k] for k in ("fiscal_code", "family_name", "given_name", "birth_date")},
            address=address, effective_date=effective, reason="4" if origin == "abroad" else "3",
            provenance=provenance, family=family))
        family_id = family_id or _answered_family(answer)
        if not family_id:
            raise InvalidResponse(_("ANPR non ha indicato la famiglia formata con l'iscrizione di %(cf)s.")
                                  % {"cf": mover["fiscal_code"]})
        registrations.append({"fiscal_code": mover["fiscal_code"], "operation": "1002", "operation_id": operation_id,
                              "id_operazione_anpr": answer.anpr_operation_id,
                              "relationship": family["relationship"]})
    return {"scope": "join_family" if family_to_join else "new_family", "family_id_anpr": family_id,
            "registrations": registrations}


def _answered_family(answer: messages.Answer) -> str | None:
    """The ANPR family id in a register change's answer (listaSoggettiVariati/datiSoggetto/famigliaConvivenza)."""
    if answer.body is None:
        return None
    return answer.body.findtext(".//famigliaConvivenza/idFamigliaConvivenzaANPR") or None


@operation(
    "anpr.annullamento_mutazione",
    description="Annulla in ANPR la registrazione o mutazione (1013/5012) e ripristina la posizione",
    remember=True,
    # case_number and reason are documented for the model's reader; ANPR's 5012/1013 carry neither
    params=(OperationParam("registration_result", required=True), OperationParam("declarants", required=True),
            "co_movers", "case_number", "reason"),
)
def annullamento_mutazione(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: declarants, co_movers, case_number, reason, registration_result (the result of
    anpr.mutazione_residenza). result: esito, operation (5012|1013), id_operazione_anpr, annulments
    [{fiscal_code, operation, id_operazione_anpr, annulled}]."""
    registration = params.get("registration_result") or {}
    if not registration.get("id_operazione_anpr") or registration.get("operation") not in ("5005", "1002"):
        raise InvalidRequest(_("Manca l'esito della registrazione ANPR da annullare."),
                             details={"registration_result": ["required"]})
    declarants = [p for p in params.get("declarants") or [{}] if isinstance(p, dict)] or [{}]
    people = {str(p.get("fiscal_code") or "").upper(): p
              for p in [*declarants, *(params.get("co_movers") or [])] if isinstance(p, dict)}
    # Every registration the change made (one 1002 per person), the last first: ANPR annuls only a
    # person's or family's latest operation (EN077). A result from before per-person registration
    # has only the first one.
    done = [r for r in registration.get("registrations") or [] if isinstance(r, dict)] or [{
        "fiscal_code": declarants[0].get("fiscal_code"), "operation": registration["operation"],
        "operation_id": registration["operation_id"], "id_operazione_anpr": registration["id_operazione_anpr"]}]
    client = _client(ctx)
    annulments = []
    for index, entry in enumerate(reversed(done)):
        code = _fiscal_code(entry.get("fiscal_code"), "registration_result.registrations.fiscal_code")
        person = people.get(code) or {}
        subject = {"fiscal_code": code, "family_name": str(person.get("family_name", "")).upper() or "-",
                   "given_name": str(person.get("given_name", "")).upper() or "-"}
        annulled = {"operation": entry["operation"], "operation_id": entry["operation_id"],
                    "anpr_operation_id": entry["id_operazione_anpr"]}
        # The first annulment keeps the step's own id (as before per-person registration); the others
        # one per person, stable across retries.
        operation_id = soap_operation_id(ctx.idempotency_key if index == 0 else f"{ctx.idempotency_key}:{code}")
        if entry["operation"] == "5005":
            answer = client.call(soap.MUTAZIONE, messages.annullamento_mutazione(
                client.header("5012", operation_id), annulled=annulled, subject=subject))
            kind = "5012"
        else:
            answer = client.call(soap.ISCRIZIONE, messages.annullamento_iscrizione(
                client.header("1013", operation_id), annulled=annulled, subject=subject))
            kind = "1013"
        annulments.append({"fiscal_code": code, "operation": kind, "id_operazione_anpr": answer.anpr_operation_id,
                           "annulled": entry["id_operazione_anpr"]})
    return {"esito": "OK", "operation": annulments[0]["operation"],
            "id_operazione_anpr": annulments[-1]["id_operazione_anpr"], "annulments": annulments}


@operation(
    "anpr.cancellazione_decesso",
    description="Comunica ad ANPR la morte di un residente (2001, cancellazione per morte accertata)",
    remember=True,
    params=(OperationParam("person", required=True), OperationParam("death_date", required=True), "act",
            "head_of_household"),
)
def cancellazione_decesso(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: person {fiscal_code, family_name, given_name, sex, birth_date, id_anpr}, death_date (ISO),
    act {year, part, series, number, date} (the death act of this comune), head_of_household.
    result: esito, operation (2001), operation_id, id_operazione_anpr."""
    person = dict(params.get("person") or {})
    person["fiscal_code"] = _fiscal_code(person.get("fiscal_code"), "person.fiscal_code")
    person["family_name"] = str(person.get("family_name") or "").upper()
    person["given_name"] = str(person.get("given_name") or "").upper()
    try:
        death_date = dt.date.fromisoformat(str(params.get("death_date") or "")).isoformat()
    except ValueError:
        raise InvalidRequest(_("Data di morte non valida."), details={"death_date": ["invalid"]}) from None
    act = params.get("act") or None
    if act:
        found = _municipality(ctx.tenant_istat)
        if found is None:
            raise InvalidRequest(_("Comune con codice ISTAT %(code)s non trovato tra i comuni in vigore.")
                                 % {"code": ctx.tenant_istat}, details={"act": ["municipality_unknown"]})
        act = {**act, "municipality_name": str(found[0]).upper(), "province": found[1],
               "municipality_istat": ctx.tenant_istat, "number": str(act.get("number") or ""),
               "part": str(act.get("part") or "1"), "series": str(act.get("series") or "") or None}
    client = _client(ctx)
    operation_id = soap_operation_id(ctx.idempotency_key)
    answer = client.call(soap.CANCELLAZIONE, messages.cancellazione_decesso(
        client.header("2001", operation_id), person={k: person.get(k) for k in (
            "fiscal_code", "family_name", "given_name", "sex", "birth_date")},
        death_date=death_date, act=act, head_of_household=bool(params.get("head_of_household"))))
    return {"esito": "OK", "operation": "2001", "operation_id": operation_id,
            "id_operazione_anpr": answer.anpr_operation_id}


# --- citizen requests (P000) -------------------------------------------------------------------------

def list_citizen_requests(client: AnprClient, *, date_from: dt.date, date_to: dt.date, request_type: str,
                          status: str = "", operation_id: str) -> list[dict[str, Any]]:
    answer = client.call(soap.SERVIZI_CITTADINO, messages.elenco_richieste(
        client.header("P001", operation_id), date_from=date_from.isoformat(), date_to=date_to.isoformat(),
        request_type=request_type, status=status))
    return [{"request_code": r.findtext("codiceRichiesta"), "status": r.findtext("idStatoRichiesta"),
             "type": r.findtext("idTipologia"), "opened_at": r.findtext("dataApertura"),
             "fiscal_code": r.findtext("codiceFiscaleSoggettoRichiedente/codFiscale") or ""}
            for r in answer.body.iter("richiesta")]


@operation("anpr.p001_list", description="Elenca le richieste dei cittadini dal portale ANPR (P001)",
           params=("date_from", "date_to", "type", "status"))
def p001_list(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    today = dt.date.today()
    try:
        start = dt.date.fromisoformat(str(params.get("date_from") or (today - dt.timedelta(days=30)).isoformat()))
        end = dt.date.fromisoformat(str(params.get("date_to") or today.isoformat()))
    except ValueError as exc:
        raise InvalidRequest(_("Date non valide (formato AAAA-MM-GG)."), details={"date_from": ["invalid"]}) from exc
    requests = list_citizen_requests(_client(ctx), date_from=start, date_to=end,
                                     request_type=str(params.get("type") or "2"),
                                     status=str(params.get("status") or ""),
                                     operation_id=soap_operation_id(ctx.idempotency_key))
    return {"requests": requests}


@operation("anpr.p002_detail", description="Legge il dettaglio di una richiesta dal portale ANPR (P002)",
           params=(OperationParam("request_code", required=True),))
def p002_detail(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    code = str(params.get("request_code") or "")
    if not code.isdigit():
        raise InvalidRequest(_("Codice richiesta ANPR non valido."), details={"request_code": ["invalid"]})
    client = _client(ctx)
    answer = client.call(soap.SERVIZI_CITTADINO, messages.dettaglio_richiesta(
        client.header("P002", soap_operation_id(ctx.idempotency_key)), request_code=code))
    d = answer.body.find("dettaglio")
    if d is None:
        return {"request_code": code, "found": False}
    g = d.find("soggettoRichiedente")
    decl = d.find("datiDichiarazioneResidenza")
    address = None
    if decl is not None:
        ind = decl.find("indirizzo")
        address = {"street": " ".join(filter(None, [ind.findtext("toponimo/specie"),
                                                     ind.findtext("toponimo/denominazioneToponimo")])),
                   "house_number": ind.findtext("civico") or "", "postal_code": ind.findtext("cap"),
                   "municipality_istat": ind.findtext("comune/codiceIstat") or ""}
    return {"request_code": code, "found": True, "type": d.findtext("idTipologia"),
            "status": d.findtext("statoRichiestaCorrente/idStato"), "opened_at": d.findtext("dataApertura"),
            "applicant": {"fiscal_code": g.findtext("codiceFiscale/codFiscale") or "",
                          "family_name": (g.findtext("cognome") or "").title(),
                          "given_name": (g.findtext("nome") or "").title()},
            "new_address": address, "note": d.findtext("note") or ""}


# The characters P000's `note` admits (vocabolarioP000sc.xsd): a registrar's free text with anything
# else (an arrow, a euro sign, typographic quotes) would make ANPR refuse the whole update.
_NOTE_ALLOWED = re.compile("[0-9a-zA-Z\u00e0\u00e8\u00e9\u00ec\u00f2\u00f9\u008a\u008c\u008e\u009a\u009c"
                           "\u009e-\u009f\u00c0-\u017e\u0189\r\n,.\\-'\":;@/\\\\_() ]")
_NOTE_SUBSTITUTES = {"\u2192": "-", "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"',
                     "\u00bb": '"', "\u2013": "-", "\u2014": "-", "\u20ac": "EUR", "&": "e", "<": "(", ">": ")",
                     "[": "(", "]": ")", "{": "(", "}": ")", "!": ".", "?": ".", "\t": " "}


def anpr_note_text(text: str) -> str:
    """`text` in the characters a P003 note admits: common typography replaced, anything else a space."""
    out = []
    for ch in text:
        ch = _NOTE_SUBSTITUTES.get(ch, ch)
        out.append(ch if _NOTE_ALLOWED.fullmatch(ch) or all(_NOTE_ALLOWED.fullmatch(c) for c in ch) else " ")
    return "".join(out)


@operation("anpr.p003_update", description="Aggiorna lo stato di una richiesta del portale ANPR (P003)",
           # state (named), status (its code) or extension=true: one of the three
           params=(OperationParam("request_code", required=True), "state", "status", "extension", "rejection_reason",
                   "note", "operator"))
def p003_update(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: request_code, state (a name of connectors/anpr/request_states.py) or status (its ANPR
    table-58 code) or extension=true, rejection_reason (table 60), note (max 2000 characters), operator."""
    code = str(params.get("request_code") or "")
    if not code.isdigit():
        raise InvalidRequest(_("Codice richiesta ANPR non valido."), details={"request_code": ["invalid"]})
    extension = bool(params.get("extension"))
    status = str(params.get("status") or "")
    if params.get("state"):  # a state named by its meaning: its code from the one table
        status = state_code(str(params["state"])) or ""
        if not status:
            raise InvalidRequest(_("Stato della richiesta ANPR sconosciuto: %(state)s") % {"state": params["state"]},
                                 details={"state": ["unknown"]})
    if not extension and not status.isdigit():
        raise InvalidRequest(_("Indicare il nuovo stato della richiesta o la richiesta di proroga."),
                             details={"status": ["required"]})
    note = str(params.get("note") or "")
    if len(note) > 2000:
        raise InvalidRequest(_("La nota per ANPR supera i 2000 caratteri."), details={"note": ["too_long"]})
    note = anpr_note_text(note)[:2000]
    client = _client(ctx)
    client.call(soap.SERVIZI_CITTADINO, messages.aggiorna_richiesta(
        client.header("P003", soap_operation_id(ctx.idempotency_key)), request_code=code,
        status=status or None, extension=extension, rejection_reason=params.get("rejection_reason") or None,
        note=note or None, operator=str(params.get("operator") or ctx.case_number or "procedo")))
    return {"request_code": code, "status": status, "extension": extension, "esito": "OK"}
