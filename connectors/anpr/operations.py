"""ANPR engine operations (BPMN service tasks and `connector_call`).

Register changes (5005, 1002, 5012, 1013) carry an `idOperazioneComune` derived
from the outbox idempotency key: a retry after a lost answer gets ANPR's first
answer back instead of a second change. Lookups and P000 calls are reads or
status updates that can be repeated safely.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _

from common.operations import OperationContext, OperationParam, operation

from ..base.errors import InvalidRequest
from . import messages, soap
from .client import AnprClient, Caller, soap_operation_id


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
    declarants = params.get("declarants") or []
    if not declarants:
        raise InvalidRequest(_("Nessun dichiarante indicato."), details={"declarants": ["required"]})
    # The household the movers join, asked of ANPR before any change (a wrong one is the case's data
    # to correct: the registrar is sent back to `registration`); or the one a test model hands over.
    household = (_household_for_move(params, ctx) if "joins_household_of" in params
                 else params.get("household") if isinstance(params.get("household"), dict) else {})
    first = declarants[0]
    fiscal_code = _fiscal_code(first.get("fiscal_code"), "declarants.0.fiscal_code")
    address = anpr_address(params.get("new_address") or {})
    effective = str(params.get("declaration_date") or dt.date.today().isoformat())
    client = _client(ctx)
    operation_id = soap_operation_id(ctx.idempotency_key)
    origin = str(params.get("origin") or "same_municipality")
    if origin == "same_municipality":
        found = client.lookup("C020", fiscal_code, caller=_caller(params, ctx), reason="cambio di abitazione")
        family_id = found.subjects[0].get("family_id_anpr") if found.found else None
        if not family_id:
            raise InvalidRequest(
                _("%(cf)s non risulta residente in ANPR: per chi proviene da altro comune o dall'estero "
                  "indicare la provenienza corretta.") % {"cf": fiscal_code},
                details={"origin": ["not_resident"]})
        payload = messages.mutazione_residenza(
            client.header("5005", operation_id, effective_date=effective), family_id_anpr=family_id,
            address=address, effective_date=effective, case_number=params.get("case_number"))
        answer = client.call(soap.MUTAZIONE, payload)
        kind = "5005"
    else:
        person = {"fiscal_code": fiscal_code, "family_name": str(first.get("family_name", "")).upper(),
                  "given_name": str(first.get("given_name", "")).upper(), "birth_date": first.get("birth_date")}
        provenance = None
        previous = _municipality(str(params.get("previous_municipality") or ""))
        if origin == "other_municipality" and previous is not None:
            provenance = {"name": previous[0], "istat": params["previous_municipality"], "province": previous[1]}
        payload = messages.iscrizione(
            client.header("1002", operation_id, effective_date=effective), person=person, address=address,
            effective_date=effective, reason="4" if origin == "abroad" else "3", provenance=provenance)
        answer = client.call(soap.ISCRIZIONE, payload)
        family_id = None
        kind = "1002"
    return {"esito": "OK", "operation": kind, "operation_id": operation_id,
            "id_operazione_anpr": answer.anpr_operation_id, "family_id_anpr": family_id,
            "household": {**household, "kind": household.get("kind") or "new",
                          "family_id_anpr": household.get("family_id_anpr") or family_id},
            "co_movers": [str(p.get("fiscal_code") or "").upper() for p in params.get("co_movers") or []
                          if isinstance(p, dict)]}


@operation(
    "anpr.annullamento_mutazione",
    description="Annulla in ANPR la registrazione o mutazione (1013/5012) e ripristina la posizione",
    remember=True,
    # case_number and reason are documented for the model's reader; ANPR's 5012/1013 carry neither
    params=(OperationParam("registration_result", required=True), OperationParam("declarants", required=True),
            "case_number", "reason"),
)
def annullamento_mutazione(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: declarants, case_number, reason, registration_result (the result of anpr.mutazione_residenza).
    result: esito, operation (5012|1013), id_operazione_anpr."""
    registration = params.get("registration_result") or {}
    if not registration.get("id_operazione_anpr") or registration.get("operation") not in ("5005", "1002"):
        raise InvalidRequest(_("Manca l'esito della registrazione ANPR da annullare."),
                             details={"registration_result": ["required"]})
    declarants = params.get("declarants") or [{}]
    subject = {"fiscal_code": _fiscal_code(declarants[0].get("fiscal_code"), "declarants.0.fiscal_code"),
               "family_name": str(declarants[0].get("family_name", "")).upper(),
               "given_name": str(declarants[0].get("given_name", "")).upper()}
    annulled = {"operation": registration["operation"], "operation_id": registration["operation_id"],
                "anpr_operation_id": registration["id_operazione_anpr"]}
    client = _client(ctx)
    operation_id = soap_operation_id(ctx.idempotency_key)
    if registration["operation"] == "5005":
        answer = client.call(soap.MUTAZIONE, messages.annullamento_mutazione(
            client.header("5012", operation_id), annulled=annulled, subject=subject))
        kind = "5012"
    else:
        answer = client.call(soap.ISCRIZIONE, messages.annullamento_iscrizione(
            client.header("1013", operation_id), annulled=annulled, subject=subject))
        kind = "1013"
    return {"esito": "OK", "operation": kind, "id_operazione_anpr": answer.anpr_operation_id}


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


@operation("anpr.p003_update", description="Aggiorna lo stato di una richiesta del portale ANPR (P003)",
           # status, or extension=true: one of the two
           params=(OperationParam("request_code", required=True), "status", "extension", "rejection_reason", "note",
                   "operator"))
def p003_update(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """params: request_code, status (ANPR table 58) or extension=true, rejection_reason (table 60), note
    (max 2000 characters), operator."""
    code = str(params.get("request_code") or "")
    if not code.isdigit():
        raise InvalidRequest(_("Codice richiesta ANPR non valido."), details={"request_code": ["invalid"]})
    extension = bool(params.get("extension"))
    status = str(params.get("status") or "")
    if not extension and not status.isdigit():
        raise InvalidRequest(_("Indicare il nuovo stato della richiesta o la richiesta di proroga."),
                             details={"status": ["required"]})
    note = str(params.get("note") or "")
    if len(note) > 2000:
        raise InvalidRequest(_("La nota per ANPR supera i 2000 caratteri."), details={"note": ["too_long"]})
    client = _client(ctx)
    client.call(soap.SERVIZI_CITTADINO, messages.aggiorna_richiesta(
        client.header("P003", soap_operation_id(ctx.idempotency_key)), request_code=code,
        status=status or None, extension=extension, rejection_reason=params.get("rejection_reason") or None,
        note=note or None, operator=str(params.get("operator") or ctx.case_number or "procedo")))
    return {"request_code": code, "status": status, "extension": extension, "esito": "OK"}
