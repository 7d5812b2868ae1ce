"""ANPR simulator: a small national register behind ANPR's real interfaces.

REST e-services through the PDND/ModI gateway (paths as in `anpr-pdnd/*.yml`,
`POST /<e-service>/v1/anpr-service-e002`): C001, C020 (residence), C021 (family),
C030 (national unique id). Every call must carry a valid PDND voucher
(`Authorization: Bearer`, signed by the PDND simulator, not expired, for the
e-service audience), an `Agid-JWT-Signature` signed with the caller's registered key
whose `signed_headers` digest matches the `Digest` header and the body
(INTEGRITY_REST_02), and for C001/C021/C030 an `Agid-JWT-TrackingEvidence`
(AUDIT_REST_02) whose SHA-256 is the voucher's `digest` claim. Bodies are
validated against the OpenAPI schemas; ANPR errors come back as `RispostaKO`
with codes from ANPR's error table (EN130 "Nessun soggetto trovato", ...).

SOAP register services (paths of the WSDLs' soap:address): 5005 change of
residence, 5012 annulment of a change, 1002 registration, 1013 annulment of a
registration, P001/P002/P003 citizen requests. Requests are validated against the
XSDs; an `idOperazioneComune` already seen gets the answer given the first time
(ANPR's documented behaviour, and what makes our retries safe); the same id for a
different service is refused with EN079.

State: people by fiscal code (id ANPR, names, birth, family, residence with its
start date), the operations applied (so they can be annulled, restoring the
previous residence), and a queue of citizen requests (`POST /__sim__/citizen-requests`
adds one, as if a citizen had filed it on the national portal).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import itertools
import json
import threading
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from ..base.errors import MalformedXml, UnsafeXml
from ..base.openapi import errors_for, request_pointer
from ..base.simulator import SimulatorApp, json_response
from ..base.xml import to_bytes
from . import soap
from .services import ESERVICES

ERRORS = {
    # Texts from ANPR's error table (anpr/xlsx/tab_elenco_errori_anpr.xlsx).
    "EN130": "Nessun soggetto trovato",
    "EN078": "L'operazione da annullare non e' presente nell'archivio delle registrazioni anagrafiche",
    "EN077": "L'operazione da annullare non e' l'ultima effettuata per il soggetto/i o per le famiglie "
             "movimentate dall'operazione stessa",
    "EN079": "id operazione comune gia' presente per un servizio diverso",
    "EF002": "Identificativo scheda famiglia/convivenza attribuito da ANPR non trovato o scheda famiglia archiviata",
    "EN248": "Soggetto gia' presente su ANPR con CF @",
    "EN227": "Ricerca per singola richiesta: valorizzare almeno un identificativo operazione",
    "EC002": "Codice relazione di parentela @ inesistente sulla tabella di riferimento",
    "EC074": "Codice tipoMovimentazione @ inesistente sulla tabella di riferimento",
    "EF011": "Deve essere impostato almeno un identificativo tra identificativo scheda famiglia/convivenza "
             "attribuito dal comune e quello attribuito da ANPR in caso di attribuzione soggetto a "
             "famiglia/convivenza esistente",
    "EF016": "Codice tipoScheda @ non valido (valori ammessi: 1=famiglia/convivenza esistente, 2=nuova famiglia) "
             "per il servizio di mutazione residenza",
    "EF017": "L'identificativo scheda famiglia di ANPR non deve essere impostato se si attribuisce il soggetto "
             "ad una famiglia nuova",
    "EF021": "Il codice legame deve essere 1 - Intestatario quando viene richiesta la creazione di una nuova famiglia",
    "EF030": "I dati della famiglia/convivenza e del legame soggetto sono obbligatori nel caso di "
             "attribuzioneFamiglia = 4 (convivenza/istituto) o 5 altra famiglia",
    "EN166": "La famiglia non puo' avere piu' di un intestatario",
}
RELATIONSHIP_CODES = frozenset({str(c) for c in (*range(1, 27), 28, 80, 81, 99)})  # ANPR table 5

SEED_PEOPLE: list[dict[str, Any]] = [
    # The national test subject (DOMAIN.md) and a household in Capannori, two in Lucca.
    {"fiscal_code": "PRVGNN90R10H501Q", "family_name": "PROVA", "given_name": "GIOVANNI", "sex": "M",
     "birth_date": "1990-10-10", "birth_place": {"name": "ROMA", "istat": "058091", "province": "RM"},
     "family": "F1", "relation": "1",
     "address": {"postcode": "55012", "municipality_istat": "046007", "municipality_name": "CAPANNORI",
                 "province": "LU", "species": "VIA", "street": "DEI COLLI", "house_number": "4"}},
    {"fiscal_code": "PRVMRA92A41E715X", "family_name": "PROVA", "given_name": "MARIA", "sex": "F",
     "birth_date": "1992-01-01", "birth_place": {"name": "LUCCA", "istat": "046017", "province": "LU"},
     # A partner living with Giovanni (table "Relazione di parentela" 23), not his wife: both are
     # unmarried (civil status 1), so the national test subject can ask for marriage banns.
     "family": "F1", "relation": "23"},
    {"fiscal_code": "RSSMRA80A41E715N", "family_name": "ROSSI", "given_name": "MARIA", "sex": "F",
     "birth_date": "1980-01-01", "birth_place": {"name": "LUCCA", "istat": "046017", "province": "LU"},
     "family": "F2", "relation": "1",
     "address": {"postcode": "55100", "municipality_istat": "046017", "municipality_name": "LUCCA",
                 "province": "LU", "species": "VIA", "street": "FILLUNGO", "house_number": "20"}},
    {"fiscal_code": "RSSMRA80A01H501U", "family_name": "ROSSI", "given_name": "MARIO", "sex": "M",
     "birth_date": "1980-01-01", "birth_place": {"name": "ROMA", "istat": "058091", "province": "RM"},
     "family": "F3", "relation": "1",
     "address": {"postcode": "55100", "municipality_istat": "046017", "municipality_name": "LUCCA",
                 "province": "LU", "species": "VIA", "street": "SAN PAOLINO", "house_number": "7"}},
    {"fiscal_code": "BNCLRA85M41E715O", "family_name": "BIANCHI", "given_name": "LAURA", "sex": "F",
     "birth_date": "1985-08-01", "birth_place": {"name": "LUCCA", "istat": "046017", "province": "LU"},
     "family": "F4", "relation": "1",
     "address": {"postcode": "55012", "municipality_istat": "046007", "municipality_name": "CAPANNORI",
                 "province": "LU", "species": "VIA", "street": "DEL POPOLO", "house_number": "9"}},
    {"fiscal_code": "VRDGPP70C15G702S", "family_name": "VERDI", "given_name": "GIUSEPPE", "sex": "M",
     "birth_date": "1970-03-15", "birth_place": {"name": "PISA", "istat": "050026", "province": "PI"},
     "family": "F5", "relation": "1", "civil_status": "2",  # married (ANPR table "Stato civile")
     "address": {"postcode": "56100", "municipality_istat": "050026", "municipality_name": "PISA",
                 "province": "PI", "species": "VIA", "street": "SANTA MARIA", "house_number": "2"}},
]


class KeySource:
    """Where the simulator finds PDND's voucher key and the clients' keys: the PDND
    simulator object itself (tests), or its published endpoints over HTTP (demo)."""

    def __init__(self, pdnd: Any = None, pdnd_url: str | None = None) -> None:
        self.pdnd = pdnd
        self.pdnd_url = (pdnd_url or "").rstrip("/")
        self._cache: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def _fetch_jwk(self, path: str) -> dict[str, Any]:
        base = self.pdnd_url
        if not base:
            from ..base.config import base_url  # noqa: PLC0415 - resolved per call: PDND may move

            base = base_url("pdnd")
        response = httpx.get(base.rstrip("/") + path, timeout=5.0)
        response.raise_for_status()
        return response.json()

    def voucher_key(self, kid: str) -> rsa.RSAPublicKey | None:
        if self.pdnd is not None:
            return self.pdnd.public_key if kid == self.pdnd.signing_kid else None
        with self._lock:
            if ("voucher", kid) in self._cache:
                return self._cache[("voucher", kid)]  # type: ignore[index]
        try:
            keys = self._fetch_jwk("/.well-known/jwks.json").get("keys", [])
        except (httpx.HTTPError, ValueError):
            return None
        for jwk in keys:
            if jwk.get("kid") == kid:
                key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
                with self._lock:
                    self._cache[("voucher", kid)] = key  # type: ignore[index]
                return key
        return None

    def client_key(self, kid: str) -> rsa.RSAPublicKey | None:
        if self.pdnd is not None:
            found = self.pdnd.client_for(kid)
            return found[1] if found else None
        with self._lock:
            if ("client", kid) in self._cache:
                return self._cache[("client", kid)]  # type: ignore[index]
        try:
            jwk = self._fetch_jwk(f"/keys/{kid}")
        except (httpx.HTTPError, ValueError):
            return None
        key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
        with self._lock:
            self._cache[("client", kid)] = key  # type: ignore[index]
        return key


class ModiRefused(Exception):
    pass


def _ko_json(status: int, code: str, text: str, header: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {**(header or {}), "listaErrori": [{"codiceErroreAnomalia": code,
                                                               "tipoErroreAnomalia": "E",
                                                               "testoErroreAnomalia": text}]}
    return json_response(body, status, content_type="application/problem+json")


def _gateway_problem(status: int, detail: str) -> Response:
    # What the GovWay gateway in front of ANPR answers when a token or signature is refused.
    return json_response({"type": "https://govway.org/handling-errors/401/AuthenticationRequired.html",
                          "title": "AuthenticationRequired" if status == 401 else "Forbidden",
                          "status": status, "detail": detail}, status, content_type="application/problem+json")


class AnprSimulator(SimulatorApp):
    platform = "anpr"

    def __init__(self, *, keys: KeySource | None = None, voucher_audience: str = "procedo-simulated-eservices",
                 seed: list[dict[str, Any]] | None = None) -> None:
        self.keys = keys or KeySource()
        self.voucher_audience = voucher_audience
        self.seed = seed if seed is not None else SEED_PEOPLE
        super().__init__()

    def rules(self) -> list[Rule]:
        rules = [Rule(f"/{svc.path_name}/v1/anpr-service-e002", endpoint="e002", defaults={"code": code},
                      methods=["POST"]) for code, svc in ESERVICES.items()]
        rules += [Rule(f"/{svc.path_name}/v1/status", endpoint="status", methods=["GET"])
                  for svc in ESERVICES.values()]
        rules += [Rule(path, endpoint="soap", defaults={"service_path": path}, methods=["POST"])
                  for path in soap.SERVICES]
        return rules

    def reset(self) -> None:
        with self.lock:
            super().reset()
            self.ids = itertools.count(9_000_001)
            self.people: dict[str, dict[str, Any]] = {}
            for person in copy.deepcopy(self.seed):
                person["id_anpr"] = str(next(self.ids))
                person["since"] = "2015-01-01"
                self.people[person["fiscal_code"]] = person
            self.families: dict[str, str] = {}  # our family key -> ANPR family id
            for person in self.people.values():
                self.families.setdefault(person["family"], str(next(self.ids)))
            self.operations: dict[tuple[str, str], tuple[str, bytes]] = {}  # (sender, id) -> (op, answer)
            self.applied: dict[str, dict[str, Any]] = {}  # ANPR operation id -> undo information
            self.last_change: dict[str, str] = {}  # family key -> ANPR operation id of its last change
            self.citizen_requests: dict[str, dict[str, Any]] = {}
            self.request_codes = itertools.count(500_001)
            self.changes: list[dict[str, Any]] = []  # every applied register change, for tests
            self.deceased: dict[str, dict[str, Any]] = {}  # fiscal code -> person deleted for death (2001)

    # --- register helpers ---------------------------------------------------------------------------
    def person(self, fiscal_code: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.people.get(fiscal_code.upper())
            return copy.deepcopy(found) if found else None

    def family_id(self, person: dict[str, Any]) -> str:
        return self.families[person["family"]]

    def _family_members(self, family_key: str) -> list[dict[str, Any]]:
        return [p for p in self.people.values() if p["family"] == family_key]

    def _head_address(self, family_key: str) -> dict[str, Any] | None:
        for p in self._family_members(family_key):
            if p.get("address"):
                return p["address"]
        return None

    def add_citizen_request(self, *, sender: str, fiscal_code: str, request_type: str = "2",
                            address: dict[str, Any] | None = None, opened_at: dt.datetime | None = None) -> str:
        with self.lock:
            code = str(next(self.request_codes))
            person = self.people.get(fiscal_code.upper())
            self.citizen_requests[code] = {
                "code": code, "comune": sender, "fiscal_code": fiscal_code.upper(), "type": request_type,
                "status": "1", "opened_at": (opened_at or dt.datetime.now()).replace(microsecond=0),
                "person": copy.deepcopy(person) if person else {"fiscal_code": fiscal_code.upper(),
                                                                 "family_name": "NUOVO", "given_name": "RESIDENTE"},
                "address": address or {"postcode": "55012", "municipality_istat": sender,
                                       "municipality_name": "CAPANNORI", "province": "LU", "species": "VIA",
                                       "street": "ROMA", "house_number": "1"},
                "history": [("1", "CITTADINO", dt.datetime.now().replace(microsecond=0), None)],
            }
            return code

    def admin(self, request: Request) -> Response:
        if request.path == "/__sim__/citizen-requests" and request.method == "POST":
            data = request.get_json(force=True, silent=True) or {}
            if not data.get("sender") or not data.get("fiscal_code"):
                return json_response({"error": "sender and fiscal_code are required"}, 400)
            code = self.add_citizen_request(sender=str(data["sender"]), fiscal_code=str(data["fiscal_code"]),
                                            request_type=str(data.get("type", "2")), address=data.get("address"))
            return json_response({"codiceRichiesta": code}, 201)
        if request.path == "/__sim__/register" and request.method == "GET":
            with self.lock:
                return json_response({"people": list(self.people.values()),
                                      "citizen_requests": {k: {**v, "opened_at": v["opened_at"].isoformat(),
                                                               "history": len(v["history"])}
                                                           for k, v in self.citizen_requests.items()}})
        return super().admin(request)

    # --- REST (PDND + ModI) -------------------------------------------------------------------------
    def _verify_modi(self, request: Request, code: str) -> dict[str, Any]:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            raise ModiRefused("missing bearer voucher")
        token = auth[7:]
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.voucher_key(str(header.get("kid")))
            if key is None:
                raise ModiRefused("voucher signed with an unknown key")
            voucher = jwt.decode(token, key, algorithms=["RS256"], audience=self.voucher_audience,
                                 options={"require": ["exp", "iat", "purposeId", "client_id"]})
        except jwt.ExpiredSignatureError as exc:
            raise ModiRefused("voucher expired") from exc
        except jwt.PyJWTError as exc:
            raise ModiRefused(f"voucher refused: {exc}") from exc
        body = request.get_data(cache=True)
        digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        if request.headers.get("Digest") != digest:
            raise ModiRefused("Digest header does not match the body")
        audience = f"{request.host_url.rstrip('/')}/{ESERVICES[code].path_name}/v1"
        signature = request.headers.get("Agid-JWT-Signature", "")
        claims = self._client_jwt(signature, audience, voucher["client_id"], "Agid-JWT-Signature")
        signed = {k: v for item in claims.get("signed_headers") or [] for k, v in item.items()}
        if signed.get("digest") != digest or signed.get("content-type") != request.headers.get("Content-Type"):
            raise ModiRefused("Agid-JWT-Signature signed_headers do not match the request")
        if ESERVICES[code].audit:
            evidence = request.headers.get("Agid-JWT-TrackingEvidence", "")
            audit = self._client_jwt(evidence, audience, voucher["client_id"], "Agid-JWT-TrackingEvidence")
            for claim in ("userID", "userLocation", "LoA"):
                if not audit.get(claim):
                    raise ModiRefused(f"tracking evidence without {claim}")
            expected = (voucher.get("digest") or {}).get("value")
            if expected != hashlib.sha256(evidence.encode()).hexdigest():
                raise ModiRefused("voucher digest does not match the tracking evidence")
        return voucher

    def _client_jwt(self, token: str, audience: str, client_id: str, name: str) -> dict[str, Any]:
        if not token:
            raise ModiRefused(f"missing {name}")
        try:
            kid = str(jwt.get_unverified_header(token).get("kid"))
            key = self.keys.client_key(kid)
            if key is None:
                raise ModiRefused(f"{name} signed with an unknown key")
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=audience,
                                options={"require": ["exp", "iat", "jti"]}, leeway=5)
        except jwt.PyJWTError as exc:
            raise ModiRefused(f"{name} refused: {exc}") from exc
        if claims.get("iss") != client_id:
            raise ModiRefused(f"{name} issued by another client")
        return claims

    def on_status(self, request: Request) -> Response:
        return json_response({"status": "OK"})

    def on_e002(self, request: Request, code: str) -> Response:
        try:
            self._verify_modi(request, code)
        except ModiRefused as exc:
            return _gateway_problem(401, str(exc))
        try:
            body = json.loads(request.get_data(cache=True))
        except ValueError:
            return _ko_json(400, "EN000", "Richiesta non in formato JSON")
        spec = ESERVICES[code].spec
        problems = errors_for(spec, request_pointer(spec, "post", "/anpr-service-e002"), body)
        if problems:
            return _ko_json(400, "EN000", f"Richiesta non conforme: {problems[0]}"[:240])
        anpr_id = str(next(self.ids))
        if ESERVICES[code].flat:
            header: dict[str, Any] = {"idOperazioneANPR": anpr_id}
            ok_header: dict[str, Any] = dict(header)
        else:
            testata = body["testataRichiesta"]
            header = {k: testata[k] for k in ("idOperazioneClient", "codMittente", "codDestinatario",
                                              "operazioneRichiesta", "dataOraRichiesta") if k in testata}
            header["idOperazioneANPR"] = anpr_id
            header = {"testataRisposta": {**header, "esitoOperazione": "KO"}}
            ok_header = {"testataRisposta": {**header["testataRisposta"], "esitoOperazione": "OK"}}
        criteria = body.get("criteriRicerca") or {}
        fiscal_code = str(criteria.get("codiceFiscale") or "").upper()
        if not fiscal_code:
            return _ko_json(400, "EN227", ERRORS["EN227"], header)
        with self.lock:
            person = self.people.get(fiscal_code)
            if person is None or (criteria.get("cognome") and criteria["cognome"].upper() != person["family_name"]):
                return _ko_json(404, "EN130", ERRORS["EN130"], header)
            subjects = [person]
            if ESERVICES[code].family:
                subjects = sorted(self._family_members(person["family"]), key=lambda p: p["relation"])
            listed = [self._rest_subject(p, code) for p in subjects]
        return json_response({**ok_header, "listaSoggetti": {"datiSoggetto": listed}})

    def _rest_subject(self, person: dict[str, Any], code: str) -> dict[str, Any]:
        address = person.get("address") or self._head_address(person["family"]) or {}
        out: dict[str, Any] = {
            "generalita": {
                "codiceFiscale": {"codFiscale": person["fiscal_code"], "validitaCF": "1"},
                "cognome": person["family_name"], "nome": person["given_name"], "sesso": person["sex"],
                "dataNascita": person["birth_date"], "idSchedaSoggettoANPR": person["id_anpr"],
            },
            "identificativi": {"idANPR": person["id_anpr"]},
        }
        if code == "C020":
            out["famigliaConvivenza"] = {"idFamigliaConvivenzaANPR": self.families[person["family"]]}
            # ANPR table "Stato civile": 1 celibe/nubile, 2 coniugato/a, 3 vedovo/a, 4 divorziato/a, ...
            out["statoCivile"] = {"statoCivile": str(person.get("civil_status") or "1")}
        if code == "C020" and address:
            out["residenza"] = [{
                "tipoIndirizzo": "1",
                "indirizzo": {
                    "cap": address["postcode"],
                    "comune": {"nomeComune": address["municipality_name"], "codiceIstat": address["municipality_istat"],
                               "siglaProvinciaIstat": address["province"]},
                    "toponimo": {"specie": address.get("species", "VIA"), "denominazioneToponimo": address["street"]},
                    "numeroCivico": {"numero": address.get("house_number", "")},
                },
                "dataDecorrenzaResidenza": person.get("since", "2015-01-01"),
            }]
        if ESERVICES[code].family:
            out["legameSoggetto"] = {"codiceLegame": person["relation"]}
        return out

    # --- SOAP ---------------------------------------------------------------------------------------
    def on_soap(self, request: Request, service_path: str) -> Response:
        service = soap.SERVICES[service_path]
        try:
            payload = soap.body_payload(request.get_data(cache=True))
        except (UnsafeXml, MalformedXml) as exc:
            return self._soap_fault("Client", str(exc))
        except Exception as exc:  # noqa: BLE001 - anything unreadable is the client's fault
            return self._soap_fault("Client", f"richiesta non leggibile: {exc}")
        problems = soap.schema_errors(payload, service)
        if problems:
            return self._soap_fault("Client", f"XML non valido rispetto allo schema: {problems[0]}"[:500])
        name = etree.QName(payload).localname
        operation = name.removeprefix("Richiesta")
        testata = payload.find("testataRichiesta")
        sender = testata.findtext("codMittente")
        op_id = testata.findtext("idOperazioneComune")
        with self.lock:
            previous = self.operations.get((sender, op_id))
            if previous is not None:
                if previous[0] == operation:
                    return Response(previous[1], content_type=soap.SOAP_CONTENT_TYPE)
                answer = self._ko(service, operation, testata, "EN079")
            else:
                handler = getattr(self, f"_op_{operation}")
                answer = handler(service, payload, testata)
                self.operations[(sender, op_id)] = (operation, answer)
        return Response(answer, content_type=soap.SOAP_CONTENT_TYPE)

    def _soap_fault(self, code: str, message: str) -> Response:
        return Response(soap.fault(code, message), status=500, content_type=soap.SOAP_CONTENT_TYPE)

    def _answer_root(self, service: soap.Service, operation: str) -> etree._Element:
        return etree.Element(etree.QName(service.namespace, f"Risposta{operation}"), nsmap={"ns": service.namespace})

    def _testata_risposta(self, parent: etree._Element, testata: etree._Element, outcome: str) -> str:
        t = etree.SubElement(parent, "testataRisposta")
        for tag in ("idOperazioneComune", "codMittente", "codDestinatario", "operazioneRichiesta",
                    "dataOraRichiesta", "protocolloComune", "dataProtocolloComune", "dataDecorrenza"):
            value = testata.findtext(tag)
            if value is not None:
                etree.SubElement(t, tag).text = value
        anpr_id = str(next(self.ids))
        etree.SubElement(t, "idOperazioneANPR").text = anpr_id
        etree.SubElement(t, "esitoOperazione").text = outcome
        return anpr_id

    def _ko(self, service: soap.Service, operation: str, testata: etree._Element, code: str,
            detail: str = "") -> bytes:
        root = self._answer_root(service, operation)
        ko = etree.SubElement(root, etree.QName(service.namespace, "rispostaKO"))
        self._testata_risposta(ko, testata, "KO")
        errors = etree.SubElement(ko, "listaErrori")
        err = etree.SubElement(errors, "errore")
        etree.SubElement(err, "codiceErroreAnomalia").text = code
        etree.SubElement(err, "tipoErroreAnomalia").text = "E"
        etree.SubElement(err, "testoErroreAnomalia").text = ERRORS.get(code, detail)[:240]
        if detail:
            etree.SubElement(err, "valoreErroreAnomalia").text = detail[:240]
        return soap.envelope(root)

    def _ok(self, service: soap.Service, operation: str, testata: etree._Element,
            people: list[dict[str, Any]]) -> tuple[bytes, str]:
        root = self._answer_root(service, operation)
        ok = etree.SubElement(root, etree.QName("http://sogei.it/ANPR/rispostaComune", "Risposta_Comune"),
                              nsmap={"risp": "http://sogei.it/ANPR/rispostaComune"})
        anpr_id = self._testata_risposta(ok, testata, "OK")
        if people:
            listed = etree.SubElement(ok, "listaSoggettiVariati")
            for person in people:
                dati = etree.SubElement(listed, "datiSoggetto")
                ids = etree.SubElement(dati, "identificativi")
                etree.SubElement(ids, "idANPR").text = person["id_anpr"]
                if person.get("family") in self.families:
                    fam = etree.SubElement(dati, "famigliaConvivenza")
                    etree.SubElement(fam, "idFamigliaConvivenzaANPR").text = self.families[person["family"]]
                    etree.SubElement(fam, "tipoScheda").text = "1"
        return soap.envelope(root), anpr_id

    @staticmethod
    def _address(residence: etree._Element) -> dict[str, Any]:
        ind = residence.find("indirizzo")
        comune = ind.find("comune")
        civ = ind.find("numeroCivico")
        return {"postcode": ind.findtext("cap"), "municipality_name": comune.findtext("nomeComune"),
                "municipality_istat": comune.findtext("codiceIstat") or "", "province": comune.findtext(
                    "siglaProvinciaIstat"), "species": ind.findtext("toponimo/specie") or "VIA",
                "street": ind.findtext("toponimo/denominazioneToponimo") or "",
                "house_number": civ.findtext("numero") if civ is not None else ""}

    def _family_key(self, family_anpr: str) -> str | None:
        return next((k for k, v in self.families.items() if v == family_anpr), None)

    def _op_5005(self, service: soap.Service, payload: etree._Element, testata: etree._Element) -> bytes:
        """Change of residence within the comune: the whole family (no list of people), or the people
        listed entering an existing family (datiControllo/tipoScheda 1) or forming a new one (2)."""
        family_anpr = payload.findtext("generalitaSchedaFamiglia/idFamigliaConvivenzaANPR") or ""
        sheet = payload.findtext("datiControllo/tipoScheda")
        residence = payload.find("residenzaFamiglia")
        listed = payload.findall("elencoSoggettiFamiglia")
        if sheet not in ("1", "2"):
            return self._ko(service, "5005", testata, "EF016", sheet or "")
        if sheet == "2" and family_anpr:
            return self._ko(service, "5005", testata, "EF017", family_anpr)
        family_key = self._family_key(family_anpr) if family_anpr else None
        if residence is None or (sheet == "1" and family_key is None):
            return self._ko(service, "5005", testata, "EF002", family_anpr)
        new_address = self._address(residence)
        since = residence.findtext("dataDecorrenzaResidenza") or dt.date.today().isoformat()
        if not listed:
            members, relations = self._family_members(family_key), None
        else:
            members, relations = [], {}
            for item in listed:
                code = (item.findtext("generalita/codiceFiscale/codFiscale") or "").upper()
                relation = item.findtext("legameSoggetto/codiceLegame") or ""
                person = self.people.get(code)
                if person is None:
                    return self._ko(service, "5005", testata, "EN130", code)
                if relation not in RELATIONSHIP_CODES:
                    return self._ko(service, "5005", testata, "EC002", relation)
                members.append(person)
                relations[code] = relation
            heads = [c for c, r in relations.items() if r == "1"]
            if sheet == "2" and (len(heads) != 1 or relations[members[0]["fiscal_code"]] != "1"):
                return self._ko(service, "5005", testata, "EF021")
            if sheet == "1" and heads:
                return self._ko(service, "5005", testata, "EN166", heads[0])
            if sheet == "2":
                family_key = f"F{next(self.ids)}"
                self.families[family_key] = str(next(self.ids))
        if relations is not None:
            # Those staying behind keep the family's address (it was held on the people who leave).
            for source in {p["family"] for p in members}:
                kept = self._head_address(source)
                for p in self._family_members(source):
                    if p["fiscal_code"] not in relations and not p.get("address") and kept:
                        p["address"] = copy.deepcopy(kept)
        undo = {p["fiscal_code"]: (copy.deepcopy(p.get("address")), p.get("since"), p["family"], p["relation"])
                for p in members}
        for p in members:
            if relations is not None:
                p["family"], p["relation"] = family_key, relations[p["fiscal_code"]]
                p["address"] = copy.deepcopy(new_address)
            elif p.get("address") or p["relation"] == "1":
                p["address"] = copy.deepcopy(new_address)
            p["since"] = since
        answer, anpr_id = self._ok(service, "5005", testata, members)
        self.applied[anpr_id] = {"operation": "5005", "family": family_key, "undo": undo,
                                 "prior": self.last_change.get(family_key),
                                 "operation_id": testata.findtext("idOperazioneComune")}
        self.last_change[family_key] = anpr_id
        self.changes.append({"operation": "5005", "anpr_id": anpr_id, "family": self.families[family_key],
                             "address": new_address, "people": sorted(undo),
                             "scope": "family" if relations is None else ("join" if sheet == "1" else "new")})
        return answer

    def _op_1002(self, service: soap.Service, payload: etree._Element, testata: etree._Element) -> bytes:
        """One person registered (table 7: 3 from another comune, 4 from abroad): into a new family
        (attribuzioneFamiglia 1, the person its head) or into an existing one named under `famiglia`
        (attribuzioneFamiglia 5, with the person's relationship, table 5)."""
        g = payload.find("generalita1002/generalita")
        fiscal_code = (g.findtext("codiceFiscale/codFiscale") or "").upper()
        reason = payload.findtext("motivoIscrizione/idMotivoIscrizione")
        existing = self.people.get(fiscal_code) if fiscal_code else None
        if existing is not None and reason != "3":
            return self._ko(service, "1002", testata, "EN248", fiscal_code)
        attribution = payload.findtext("datiControllo/attribuzioneFamiglia")
        declared = payload.find("famiglia")
        family_anpr = declared.findtext("famiglia/idFamigliaConvivenzaANPR") if declared is not None else None
        movement = declared.findtext("famiglia/tipoMovimentazione") if declared is not None else None
        relation = declared.findtext("legameSoggetto/codiceLegame") if declared is not None else "1"
        if movement not in (None, "1", "2", "3", "4"):
            return self._ko(service, "1002", testata, "EC074", movement)
        if relation not in RELATIONSHIP_CODES:
            return self._ko(service, "1002", testata, "EC002", relation or "")
        if attribution == "5":
            if declared is None:
                return self._ko(service, "1002", testata, "EF030")
            if not family_anpr:
                return self._ko(service, "1002", testata, "EF011")
            family_key = self._family_key(family_anpr)
            if family_key is None:
                return self._ko(service, "1002", testata, "EF002", family_anpr)
            if relation == "1":
                return self._ko(service, "1002", testata, "EN166", fiscal_code)
        else:
            if family_anpr:
                return self._ko(service, "1002", testata, "EF017", family_anpr)
            if relation != "1":
                return self._ko(service, "1002", testata, "EF021")
            family_key = f"F{next(self.ids)}"
            self.families[family_key] = str(next(self.ids))
        residence = payload.find("residenza")
        address = self._address(residence) if residence is not None else None
        since = residence.findtext("dataDecorrenzaResidenza") if residence is not None else None
        if existing is not None:
            # Immigration from another comune: the person leaves their household there.
            undo = (existing["family"], existing["relation"], copy.deepcopy(existing.get("address")),
                    existing.get("since"))
            existing.update({"family": family_key, "relation": relation, "address": address, "since": since})
            person = existing
        else:
            undo = None
            person = {"fiscal_code": fiscal_code or f"TMP{next(self.ids)}", "family_name": g.findtext("cognome"),
                      "given_name": g.findtext("nome"), "sex": g.findtext("sesso") or "N",
                      "birth_date": g.findtext("dataNascita") or "", "family": family_key, "relation": relation,
                      "id_anpr": str(next(self.ids)), "address": address, "since": since}
        self.people[person["fiscal_code"]] = person
        answer, anpr_id = self._ok(service, "1002", testata, [person])
        self.applied[anpr_id] = {"operation": "1002", "family": family_key, "registered": person["fiscal_code"],
                                 "prior": self.last_change.get(family_key),
                                 "previous": undo, "operation_id": testata.findtext("idOperazioneComune")}
        self.last_change[family_key] = anpr_id
        self.changes.append({"operation": "1002", "anpr_id": anpr_id, "fiscal_code": person["fiscal_code"],
                             "family": self.families[family_key], "relation": relation})
        return answer

    def _annul(self, service: soap.Service, operation: str, payload: etree._Element, testata: etree._Element,
               element: str, expected: str) -> bytes:
        target = payload.find(element)
        anpr_id = target.findtext("idOperazioneANPR")
        applied = self.applied.get(anpr_id)
        if applied is None or applied["operation"] != expected or applied.get("annulled"):
            return self._ko(service, operation, testata, "EN078", anpr_id)
        if self.last_change.get(applied["family"]) != anpr_id:
            return self._ko(service, operation, testata, "EN077", anpr_id)
        if expected == "5005":
            for fiscal_code, (address, since, family, relation) in applied["undo"].items():
                self.people[fiscal_code].update({"address": address, "since": since, "family": family,
                                                 "relation": relation})
            people = [self.people[cf] for cf in applied["undo"]]
        elif applied.get("previous"):
            person = self.people[applied["registered"]]
            family, relation, address, since = applied["previous"]
            person.update({"family": family, "relation": relation, "address": address, "since": since})
            people = [person]
        else:
            people = [self.people.pop(applied["registered"])]
        answer, undo_id = self._ok(service, operation, testata, people)
        applied["annulled"] = undo_id
        # The family's latest operation is again the one before the annulled one (several people
        # registered into one family are annulled last first).
        self.last_change[applied["family"]] = applied.get("prior") or undo_id
        self.changes.append({"operation": operation, "anpr_id": undo_id, "annulled": anpr_id})
        return answer

    def _op_5012(self, service: soap.Service, payload: etree._Element, testata: etree._Element) -> bytes:
        return self._annul(service, "5012", payload, testata, "datiOperazioneDaAnnullare", "5005")

    def _op_1013(self, service: soap.Service, payload: etree._Element, testata: etree._Element) -> bytes:
        return self._annul(service, "1013", payload, testata, "datiOperazione", "1002")

    def _op_2001(self, service: soap.Service, payload: etree._Element, testata: etree._Element) -> bytes:
        """Deletion for death: the person leaves the resident register (kept in `deceased`)."""
        fiscal_code = (payload.findtext("generalitaPerRicerca/codiceFiscale/codFiscale") or "").upper()
        person = self.people.get(fiscal_code)
        if person is None:
            return self._ko(service, "2001", testata, "EN130", fiscal_code)
        answer, anpr_id = self._ok(service, "2001", testata, [person])
        person = self.people.pop(fiscal_code)
        person["death_date"] = payload.findtext("datiDecesso/dataEvento")
        self.deceased[fiscal_code] = person
        self.applied[anpr_id] = {"operation": "2001", "family": person["family"], "registered": fiscal_code,
                                 "operation_id": testata.findtext("idOperazioneComune")}
        self.last_change[person["family"]] = anpr_id
        self.changes.append({"operation": "2001", "anpr_id": anpr_id, "fiscal_code": fiscal_code,
                             "death_date": person["death_date"],
                             "act_number": payload.findtext("datiDecesso/attoEvento/numeroAtto")})
        return answer

    # --- P000: citizen requests ---------------------------------------------------------------------
    def _ok_p(self, service: soap.Service, operation: str, testata: etree._Element,
              criteria: etree._Element) -> tuple[etree._Element, etree._Element]:
        root = self._answer_root(service, operation)
        ok = etree.SubElement(root, etree.QName(service.namespace, f"RispostaOK{operation}"))
        self._testata_risposta(ok, testata, "OK")
        echoed = copy.deepcopy(criteria)
        echoed.tag = "criteriRicerca"  # P003 echoes its criteriAggiornamento under this name
        ok.append(echoed)
        return root, ok

    def _op_P001(self, service: soap.Service, payload: etree._Element, testata: etree._Element) -> bytes:
        crit = payload.find("criteriRicerca")
        start = dt.date.fromisoformat(crit.findtext("dataIniziale"))
        end = dt.date.fromisoformat(crit.findtext("dataFinale"))
        kind = crit.findtext("idTipologia")
        status = (crit.findtext("idStatoRichiesta") or "").strip()
        sender = testata.findtext("codMittente")
        root, ok = self._ok_p(service, "P001", testata, crit)
        listed = etree.SubElement(ok, "elenco")
        for req in self.citizen_requests.values():
            if req["comune"] != sender or req["type"] != kind or not start <= req["opened_at"].date() <= end:
                continue
            if status and req["status"] != status:
                continue
            item = etree.SubElement(listed, "richiesta")
            etree.SubElement(item, "codiceRichiesta").text = req["code"]
            if req["person"].get("id_anpr"):
                etree.SubElement(item, "idSchedaSoggettoRichiedente").text = req["person"]["id_anpr"]
            etree.SubElement(item, "idStatoRichiesta").text = req["status"]
            etree.SubElement(item, "idTipologia").text = req["type"]
            etree.SubElement(item, "dataApertura").text = req["opened_at"].isoformat()
            cf = etree.SubElement(item, "codiceFiscaleSoggettoRichiedente")
            etree.SubElement(cf, "codFiscale").text = req["fiscal_code"]
        return soap.envelope(root)

    def _op_P002(self, service: soap.Service, payload: etree._Element, testata: etree._Element) -> bytes:
        crit = payload.find("criteriRicerca")
        req = self.citizen_requests.get(crit.findtext("codiceRichiesta"))
        if req is None or req["comune"] != testata.findtext("codMittente"):
            return self._ko(service, "P002", testata, "EN130")
        root, ok = self._ok_p(service, "P002", testata, crit)
        d = etree.SubElement(ok, "dettaglio")
        etree.SubElement(d, "codiceRichiesta").text = req["code"]
        etree.SubElement(d, "idTipologia").text = req["type"]
        etree.SubElement(d, "dataApertura").text = req["opened_at"].isoformat()
        etree.SubElement(d, "dataUltimoAggiornamento").text = req["history"][-1][2].isoformat()
        current = etree.SubElement(d, "statoRichiestaCorrente")
        self._stato(current, req["history"][-1])
        etree.SubElement(d, "recapiti")
        person = req["person"]
        g = etree.SubElement(d, "soggettoRichiedente")
        cf = etree.SubElement(g, "codiceFiscale")
        etree.SubElement(cf, "codFiscale").text = req["fiscal_code"]
        etree.SubElement(g, "cognome").text = person["family_name"]
        etree.SubElement(g, "nome").text = person["given_name"]
        address = req["address"]
        comune = etree.SubElement(d, "comuneInteressato")
        etree.SubElement(comune, "nomeComune").text = address["municipality_name"]
        etree.SubElement(comune, "codiceIstat").text = address["municipality_istat"]
        etree.SubElement(comune, "siglaProvinciaIstat").text = address["province"]
        history = etree.SubElement(d, "storicoStati")
        for entry in req["history"]:
            self._stato(etree.SubElement(history, "statoRichiesta"), entry)
        summary = etree.SubElement(d, "riepilogoRichiesta")
        etree.SubElement(summary, "nomeFile").text = "riepilogo.pdf"
        etree.SubElement(summary, "idFormatoFile").text = "1"
        etree.SubElement(summary, "contenuto").text = base64.b64encode(b"%PDF-1.4 riepilogo\n%%EOF\n").decode()
        etree.SubElement(d, "allegati")
        decl = etree.SubElement(d, "datiDichiarazioneResidenza")
        etree.SubElement(decl, "tipoFamiglia").text = "1"
        comps = etree.SubElement(decl, "componentiCoinvolti")
        comp = etree.SubElement(comps, "componente")
        etree.SubElement(comp, "idSchedaSoggettoANPR").text = person.get("id_anpr") or "0"
        etree.SubElement(comp, "idGradoParentela").text = "1"
        etree.SubElement(comp, "flagPatente").text = "NO"
        etree.SubElement(comp, "flagVeicoli").text = "NO"
        etree.SubElement(comp, "statoAccettazione").text = "1"
        ind = etree.SubElement(decl, "indirizzo")
        etree.SubElement(ind, "cap").text = address["postcode"]
        c2 = etree.SubElement(ind, "comune")
        etree.SubElement(c2, "nomeComune").text = address["municipality_name"]
        etree.SubElement(c2, "codiceIstat").text = address["municipality_istat"]
        etree.SubElement(c2, "siglaProvinciaIstat").text = address["province"]
        top = etree.SubElement(ind, "toponimo")
        etree.SubElement(top, "specie").text = address.get("species", "VIA")
        etree.SubElement(top, "denominazioneToponimo").text = address["street"]
        if address.get("house_number"):
            etree.SubElement(ind, "civico").text = address["house_number"]
        imm = etree.SubElement(decl, "datiImmobile")
        etree.SubElement(imm, "idTipoOccupazione").text = "1"
        return soap.envelope(root)

    @staticmethod
    def _stato(parent: etree._Element, entry: tuple) -> None:
        status, operator, when, note = entry
        etree.SubElement(parent, "idStato").text = status
        etree.SubElement(parent, "operatore").text = operator
        etree.SubElement(parent, "dataStato").text = when.isoformat()
        if note:
            etree.SubElement(parent, "note").text = note

    def _op_P003(self, service: soap.Service, payload: etree._Element, testata: etree._Element) -> bytes:
        crit = payload.find("criteriAggiornamento")
        req = self.citizen_requests.get(crit.findtext("codiceRichiesta"))
        if req is None or req["comune"] != testata.findtext("codMittente"):
            return self._ko(service, "P003", testata, "EN130")
        operator = crit.findtext("operatore") or ""
        now = dt.datetime.now().replace(microsecond=0)
        if crit.findtext("richiestaProroga") in ("true", "1"):
            req["extended"] = req.get("extended", 0) + 1
            req["history"].append((req["status"], operator, now, "proroga"))
        else:
            req["status"] = crit.findtext("idStatoRichiesta")
            req["rejection_reason"] = crit.findtext("idMotivoIrricevibile")
            req["history"].append((req["status"], operator, now, crit.findtext("note")))
        root, ok = self._ok_p(service, "P003", testata, crit)
        esito = etree.SubElement(ok, "esito")
        etree.SubElement(esito, "codiceEsito").text = "0"
        return soap.envelope(root)


def create_app() -> AnprSimulator:
    return AnprSimulator(keys=KeySource())  # PDND found through the settings at each key lookup


__all__ = ["AnprSimulator", "KeySource", "ERRORS", "SEED_PEOPLE", "to_bytes"]
