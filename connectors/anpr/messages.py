"""ANPR SOAP messages: builders for the requests we send, readers for the answers.

Plain data in, lxml out (and back): the shapes follow the official XSDs in
`anpr/wsdl/comuni/` (5000mutazione, 1000iscrizione, 2000cancellazione, P000sc); element order matters
because every type there is an `xs:sequence`. Tests validate each builder's output
against the XSD, and the simulator validates what it receives the same way.

Person: {"fiscal_code", "family_name", "given_name", "sex", "birth_date" (ISO),
         "birth_place": {"name", "istat", "province"}, "citizenship": {"code", "name"}}
Address: {"postcode", "municipality_istat", "municipality_name", "province", "species"
          (e.g. "VIA"), "street", "house_number", "letter"}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .soap import CANCELLAZIONE, ISCRIZIONE, MUTAZIONE, SERVIZI_CITTADINO, Service

APPLICATION = {"nomeApplicativo": "Procedo", "versioneApplicativo": "1.0", "fornitoreApplicativo": "Procedo"}
CITIZENSHIP_ITALY = {"code": "100", "name": "ITALIA"}
# ANPR "Tipo movimentazione" (tab_Tipo_movimentazione): how a registered person enters a family.
MOVEMENT_NEW_FAMILY = "1"  # Immigrazione in famiglia nuova
MOVEMENT_EXISTING_FAMILY = "3"  # Immigrazione in famiglia esistente
# 1002 datiControllo/attribuzioneFamiglia, as ANPR's error table names them (EN233, EF030).
ATTRIBUTION_NEW_FAMILY = "1"
ATTRIBUTION_EXISTING_FAMILY = "5"
# 5005 datiControllo/tipoScheda (ANPR error EF016): the movers' family after the change.
SHEET_EXISTING = "1"
SHEET_NEW = "2"


def _sub(parent: etree._Element, name: str, text: Any = None) -> etree._Element:
    element = etree.SubElement(parent, name)
    if text is not None:
        element.text = str(text)
    return element


def _opt(parent: etree._Element, name: str, text: Any) -> None:
    if text not in (None, ""):
        _sub(parent, name, text)


@dataclass(frozen=True)
class Header:
    """testataRichiesta: who sends what, when."""

    operation: str  # "5005", "1002", "5012", "1013", "P001", ...
    operation_id: str  # idOperazioneComune: numeric, increasing, stable across retries
    sender: str  # codMittente: the comune's ISTAT code
    environment: str = "TEST"  # tipoInvio: TEST or PROD
    recipient: str = "ANPR02"  # codDestinatario
    requested_at: dt.datetime | None = None
    protocol: str | None = None
    protocol_date: str | None = None
    effective_date: str | None = None  # dataDecorrenza


def _header(root: etree._Element, header: Header) -> None:
    t = _sub(root, "testataRichiesta")
    _sub(t, "idOperazioneComune", header.operation_id)
    _sub(t, "codMittente", header.sender)
    _sub(t, "codDestinatario", header.recipient)
    _sub(t, "operazioneRichiesta", header.operation)
    when = (header.requested_at or dt.datetime.now()).replace(microsecond=0, tzinfo=None)
    _sub(t, "dataOraRichiesta", when.isoformat())
    _sub(t, "tipoOperazione", "C")
    _opt(t, "protocolloComune", header.protocol)
    _opt(t, "dataProtocolloComune", header.protocol_date)
    _sub(t, "tipoInvio", header.environment)
    _opt(t, "dataDecorrenza", header.effective_date)
    for name, value in APPLICATION.items():
        _sub(t, name, value)


def _root(service: Service, name: str) -> etree._Element:
    return etree.Element(etree.QName(service.namespace, name), nsmap={"ns": service.namespace})


def _generalita(parent: etree._Element, name: str, person: dict[str, Any], *, full: bool = True) -> None:
    g = _sub(parent, name)
    if person.get("fiscal_code"):
        cf = _sub(g, "codiceFiscale")
        _sub(cf, "codFiscale", str(person["fiscal_code"]).upper())
    _sub(g, "cognome", person["family_name"])
    _sub(g, "nome", person["given_name"])
    if full:
        _opt(g, "sesso", person.get("sex"))
        _opt(g, "dataNascita", person.get("birth_date"))
        place = person.get("birth_place")
        if place:
            luogo = _sub(g, "luogoNascita")
            comune = _sub(luogo, "comune")
            _sub(comune, "nomeComune", place["name"])
            _opt(comune, "codiceIstat", place.get("istat"))
            _sub(comune, "siglaProvinciaIstat", place["province"])
    _opt(g, "idSchedaSoggettoANPR", person.get("id_anpr"))


def _residence(parent: etree._Element, name: str, address: dict[str, Any], effective_date: str | None) -> None:
    r = _sub(parent, name)
    _sub(r, "tipoIndirizzo", "1")  # ANPR table "Tipo indirizzo": 1 = Residenza
    ind = _sub(r, "indirizzo")
    _sub(ind, "cap", address["postcode"])
    comune = _sub(ind, "comune")
    _sub(comune, "nomeComune", address["municipality_name"])
    _opt(comune, "codiceIstat", address.get("municipality_istat"))
    _sub(comune, "siglaProvinciaIstat", address["province"])
    top = _sub(ind, "toponimo")
    _sub(top, "specie", address.get("species") or "VIA")
    _sub(top, "denominazioneToponimo", address["street"])
    if address.get("house_number"):
        civ = _sub(ind, "numeroCivico")
        _sub(civ, "numero", address["house_number"])
        _opt(civ, "lettera", address.get("letter"))
    _opt(r, "dataDecorrenzaResidenza", effective_date)


def mutazione_residenza(header: Header, *, family_id_anpr: str | None, address: dict[str, Any],
                        effective_date: str, case_number: str | None = None,
                        members: list[dict[str, Any]] | None = None, sheet: str = SHEET_EXISTING) -> etree._Element:
    """Richiesta5005: change of residence within the comune.

    - members None: the whole family `family_id_anpr` moves to the address;
    - members listed, sheet SHEET_EXISTING: those people move into the existing family
      `family_id_anpr` (a household already living at the address);
    - members listed, sheet SHEET_NEW: those people leave their family and form a new one at the
      address (no family id, EF017; the first listed is its head, code 1, EF021).
    members: [{"fiscal_code", "family_name", "given_name", "relationship" (table 5)}]."""
    root = _root(MUTAZIONE, "Richiesta5005")
    _header(root, header)
    fam = _sub(root, "generalitaSchedaFamiglia")
    _opt(fam, "idFamigliaConvivenzaANPR", family_id_anpr)
    _sub(fam, "tipoScheda", "1")  # 1 = famiglia
    _residence(root, "residenzaFamiglia", address, effective_date)
    for member in members or []:
        item = _sub(root, "elencoSoggettiFamiglia")
        _generalita(item, "generalita", member, full=False)
        legame = _sub(item, "legameSoggetto")
        _sub(legame, "dataDecorrenza", effective_date)
        _sub(legame, "codiceLegame", member["relationship"])
    if case_number:
        proc = _sub(root, "datiDelProcedimento")
        _sub(proc, "numeroPraticaComune", case_number.replace("/", "-"))
    ctl = _sub(root, "datiControllo")
    _sub(ctl, "tipoMutazione", "02")  # "Tipi di mutazione residenza": 2 = Residenza
    _sub(ctl, "tipoScheda", sheet if members else SHEET_EXISTING)
    return root


def _family_element(parent: etree._Element, name: str, family: dict[str, Any]) -> None:
    """A family sheet reference (tipoFamigliaConvivenza) and the person's link to it (tipoLegameSoggetto)."""
    f = _sub(parent, name)
    inner = _sub(f, "famiglia")
    _opt(inner, "idFamigliaConvivenzaANPR", family.get("family_id_anpr"))
    _opt(inner, "tipoMovimentazione", family.get("movement"))
    _sub(inner, "tipoScheda", "1")  # 1 = famiglia
    legame = _sub(f, "legameSoggetto")
    _sub(legame, "dataDecorrenza", family["since"])
    _sub(legame, "codiceLegame", family["relationship"])


def iscrizione(header: Header, *, person: dict[str, Any], address: dict[str, Any], effective_date: str,
               reason: str = "4", provenance: dict[str, Any] | None = None,
               family: dict[str, Any] | None = None) -> etree._Element:
    """Richiesta1002: registration for another reason than birth (table 7: 3 from a comune not yet
    on ANPR, 4 from abroad). One person per request.

    family: the family the person enters: {"family_id_anpr" (None to form a new one), "movement"
    (MOVEMENT_NEW_FAMILY | MOVEMENT_EXISTING_FAMILY), "relationship" (table 5), "since" (ISO date)};
    None = a new family with the person as its head."""
    root = _root(ISCRIZIONE, "Richiesta1002")
    _header(root, header)
    motivo = _sub(root, "motivoIscrizione")
    _sub(motivo, "idMotivoIscrizione", reason)
    g1002 = _sub(root, "generalita1002")
    _generalita(g1002, "generalita", person)
    citizenship = person.get("citizenship") or CITIZENSHIP_ITALY
    cit = _sub(root, "cittadinanza")
    _sub(cit, "descrizioneStato", citizenship["name"])
    _sub(cit, "codiceStato", citizenship["code"])
    if provenance:
        prov = _sub(root, "provenienza")
        if provenance.get("country_code"):
            loc = _sub(prov, "localita")
            _sub(loc, "descrizioneStato", provenance["country_name"])
            _sub(loc, "codiceStato", provenance["country_code"])
        else:
            comune = _sub(prov, "comune")
            _sub(comune, "nomeComune", provenance["name"])
            _opt(comune, "codiceIstat", provenance.get("istat"))
            _sub(comune, "siglaProvinciaIstat", provenance["province"])
    _residence(root, "residenza", address, effective_date)
    if family is not None:
        _family_element(root, "famiglia", family)
    ctl = _sub(root, "datiControllo")
    # attribuzioneFamiglia: 1 = a new family is formed for the registered person (ANPR error EN233),
    # 5 = another, existing family, named under `famiglia` with the person's link (EF030, EF011).
    joins = family is not None and family.get("movement") == MOVEMENT_EXISTING_FAMILY
    _sub(ctl, "attribuzioneFamiglia", ATTRIBUTION_EXISTING_FAMILY if joins else ATTRIBUTION_NEW_FAMILY)
    return root



def cancellazione_decesso(header: Header, *, person: dict[str, Any], death_date: str,
                          act: dict[str, Any] | None = None, head_of_household: bool = False) -> etree._Element:
    """Richiesta2001: deletion from the register for an ascertained death (table "Motivi di
    cancellazione dall'Anagrafe": 1 = morte accertata), with the death act when it is known.
    act: {"municipality_name", "municipality_istat", "province", "year", "part", "series", "number", "date"}."""
    root = _root(CANCELLAZIONE, "Richiesta2001")
    _header(root, header)
    motivo = _sub(root, "motivoCancellazione")
    _sub(motivo, "tipoMotivoCancellazione", "1")
    _generalita(root, "generalitaPerRicerca", person)
    evento = _sub(root, "datiDecesso")
    _sub(evento, "dataEvento", death_date)
    if act:
        atto = _sub(evento, "attoEvento")
        comune = _sub(atto, "comuneRegistrazione")
        _sub(comune, "nomeComune", act["municipality_name"])
        _opt(comune, "codiceIstat", act.get("municipality_istat"))
        _sub(comune, "siglaProvinciaIstat", act["province"])
        _sub(atto, "anno", act["year"])
        _sub(atto, "parte", act["part"])
        _opt(atto, "serie", act.get("series"))
        _sub(atto, "numeroAtto", act["number"])
        _opt(atto, "dataFormazioneAtto", act.get("date"))
    ctl = _sub(root, "datiControllo")
    _sub(ctl, "ruoloSoggetto", "1" if head_of_household else "2")  # 1 intestatario, 2 altro componente
    return root


def _operation(parent: etree._Element, name: str, annulled: dict[str, Any]) -> None:
    op = _sub(parent, name)
    _sub(op, "operazioneRichiesta", annulled["operation"])
    _sub(op, "idOperazioneComune", annulled["operation_id"])
    _sub(op, "idOperazioneANPR", annulled["anpr_operation_id"])


def annullamento_mutazione(header: Header, *, annulled: dict[str, Any], subject: dict[str, Any]) -> etree._Element:
    """Richiesta5012: annul a change (5005) and restore the previous position."""
    root = _root(MUTAZIONE, "Richiesta5012")
    _header(root, header)
    _operation(root, "datiOperazioneDaAnnullare", annulled)
    scheda = _sub(root, "datiSchedaSoggettoFamigliaConvivenza")
    _generalita(scheda, "soggetto", subject, full=False)
    ctl = _sub(root, "datiControllo")
    _sub(ctl, "tipoScheda", "1")
    _sub(ctl, "annullamentoAttribuzioneCF", "N")
    return root


def annullamento_iscrizione(header: Header, *, annulled: dict[str, Any], subject: dict[str, Any]) -> etree._Element:
    """Richiesta1013: annul a registration (1002)."""
    root = _root(ISCRIZIONE, "Richiesta1013")
    _header(root, header)
    _operation(root, "datiOperazione", annulled)
    scheda = _sub(root, "datiSchedaSoggettoFamigliaConvivenza")
    _generalita(scheda, "soggetto", subject, full=False)
    ctl = _sub(root, "datiControllo")
    _sub(ctl, "tiposcheda", "1")
    _sub(ctl, "annullamentoAttribuzione", "N")
    return root


def elenco_richieste(header: Header, *, date_from: str, date_to: str, request_type: str,
                     status: str = "") -> etree._Element:
    """RichiestaP001: citizen requests of one type opened in a date range (status "" = any)."""
    root = _root(SERVIZI_CITTADINO, "RichiestaP001")
    _header(root, header)
    crit = _sub(root, "criteriRicerca")
    _sub(crit, "dataIniziale", date_from)
    _sub(crit, "dataFinale", date_to)
    _sub(crit, "idTipologia", request_type)
    _sub(crit, "idStatoRichiesta", status)
    return root


def dettaglio_richiesta(header: Header, *, request_code: str) -> etree._Element:
    root = _root(SERVIZI_CITTADINO, "RichiestaP002")
    _header(root, header)
    crit = _sub(root, "criteriRicerca")
    _sub(crit, "codiceRichiesta", request_code)
    return root


def aggiorna_richiesta(header: Header, *, request_code: str, status: str | None = None,
                       extension: bool = False, rejection_reason: str | None = None, note: str | None = None,
                       operator: str) -> etree._Element:
    """RichiestaP003: a new status (ANPR table 58), or a request for an extension."""
    root = _root(SERVIZI_CITTADINO, "RichiestaP003")
    _header(root, header)
    crit = _sub(root, "criteriAggiornamento")
    _sub(crit, "codiceRichiesta", request_code)
    if extension:
        _sub(crit, "richiestaProroga", "true")
    else:
        _sub(crit, "idStatoRichiesta", status)
        _opt(crit, "idMotivoIrricevibile", rejection_reason)
    if note:
        _sub(crit, "note", note[:2000])
    _sub(crit, "operatore", operator)
    return root


# --- answers -------------------------------------------------------------------------------------------

@dataclass
class AnprError:
    code: str
    kind: str  # E = error, W = warning
    text: str
    field: str = ""
    value: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "kind": self.kind, "text": self.text, "field": self.field, "value": self.value}


@dataclass
class Answer:
    """A register service's answer: the OK part (Risposta_Comune / RispostaOK*) or the KO errors."""

    ok: bool
    operation_id: str = ""
    anpr_operation_id: str = ""
    outcome: str = ""
    errors: list[AnprError] = field(default_factory=list)
    body: etree._Element | None = None


def _errors(parent: etree._Element | None) -> list[AnprError]:
    if parent is None:
        return []
    found = []
    for e in parent.iter("errore", "listaAnomalie", "anomalia"):
        code = e.findtext("codiceErroreAnomalia")
        if code:
            found.append(AnprError(code=code, kind=e.findtext("tipoErroreAnomalia") or "E",
                                   text=e.findtext("testoErroreAnomalia") or "",
                                   field=e.findtext("campoErroreAnomalia") or "",
                                   value=e.findtext("valoreErroreAnomalia") or ""))
    return found


def read_answer(payload: etree._Element) -> Answer:
    """Read RispostaNNNN: its child is either the OK answer or rispostaKO."""
    if len(payload) != 1:
        return Answer(ok=False, errors=[AnprError("EN000", "E", "risposta vuota")])
    inner = payload[0]
    name = etree.QName(inner).localname
    header = inner.find("testataRisposta")
    answer = Answer(
        ok=name != "rispostaKO", body=inner,
        operation_id=(header.findtext("idOperazioneComune") or "") if header is not None else "",
        anpr_operation_id=(header.findtext("idOperazioneANPR") or "") if header is not None else "",
        outcome=(header.findtext("esitoOperazione") or "") if header is not None else "",
    )
    answer.errors = _errors(inner.find("listaErrori")) + _errors(inner.find("listaAnomalie"))
    return answer
