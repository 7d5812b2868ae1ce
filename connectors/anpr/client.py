"""ANPR client: REST lookups through PDND (voucher + ModI headers) and SOAP register services.

Built per tenant by `AnprClient.from_config(tenant)` from the tenant's `anpr` and `pdnd`
connector configuration (connectors.base.config): `PROCEDO_ANPR_BASE_URL` /
`PROCEDO_PDND_TOKEN_URL` override the tenant's settings; without configuration the
tenant's demo key and the simulators are used.

Errors map to the outbox's two kinds: a refused token or signature after one
refresh, an ANPR `rispostaKO`, a SOAP Client fault or a malformed answer are
permanent (an incident an operator reads in Italian, ANPR's code kept in
`platform_code`); timeouts, 5xx and SOAP Server faults are retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from common.errors import ConfigurationError

from ..base import config
from ..base.errors import ConnectorUnavailable, InvalidRequest, InvalidResponse, PlatformRefused, with_status
from ..base.http import XML_TYPES, HttpClient
from ..base.openapi import check_request, check_response
from ..pdnd.keys import ClientKey, client_key
from ..pdnd.voucher import VoucherClient, body_digest, integrity_signature, sha256_hex, tracking_evidence
from . import messages, soap
from .services import ESERVICES

E002_PATH = "/anpr-service-e002"
EVIDENCE_REUSE = 240  # seconds a tracking evidence (and the voucher bound to it) is reused for the same user

_rest_ids = itertools.count(int(time.time() * 1000) * 1000)
_rest_ids_lock = threading.Lock()


def rest_operation_id() -> str:
    """idOperazioneClient for lookups: numeric and increasing, as the E002 header requires."""
    with _rest_ids_lock:
        return str(max(next(_rest_ids), int(time.time() * 1000) * 1000))


def soap_operation_id(idempotency_key: str) -> str:
    """idOperazioneComune for register changes: derived from the outbox idempotency key, so a
    retry carries the same id and ANPR answers it with the answer it gave the first time."""
    return str(int(hashlib.sha256(idempotency_key.encode()).hexdigest(), 16))[:24]


@dataclass(frozen=True)
class Caller:
    """Who in the comune caused the call (AUDIT_REST_02 claims)."""

    user_id: str = "procedo"
    location: str = "procedo"
    loa: str = "LoA3"


@dataclass
class LookupResult:
    found: bool
    subjects: list[dict[str, Any]] = field(default_factory=list)
    anpr_operation_id: str = ""
    error_code: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"found": self.found, "subjects": self.subjects, "anpr_operation_id": self.anpr_operation_id,
                "error_code": self.error_code}


class AnprClient:
    platform = "anpr"

    @classmethod
    def from_config(cls, source: Any, *, sender: str | None = None,
                    pdnd: config.PlatformConfig | None = None) -> AnprClient:
        """The client of a tenant (Tenant, id, ISTAT code, None for the demo) or of an `anpr` PlatformConfig.

        `sender` is the comune's ISTAT code (taken from a Tenant or an ISTAT code when omitted); the
        PDND voucher settings come from the same tenant's `pdnd` configuration unless `pdnd` is given.
        """
        anpr = config.resolve(cls.platform, source)
        pdnd = config.resolve("pdnd", pdnd if pdnd is not None else anpr.tenant)
        tenant = anpr.tenant
        sender = sender or getattr(tenant, "istat_code", None) or (tenant if isinstance(tenant, str) else None)
        if not sender:
            raise ConfigurationError("the ANPR client needs the comune's ISTAT code (sender)")
        token_url = config.pdnd_token_url_override() or pdnd.credential("token_url") or (
            pdnd.base_url + "/token.oauth2")
        cert, cert_key = anpr.credential("client_cert_path"), anpr.credential("client_key_path")
        return cls(
            anpr.base_url, sender=sender, key=client_key(dict(pdnd.credentials), sender), token_url=token_url,
            purposes=pdnd.credentials.get("purpose_ids") or {}, environment=anpr.credential("environment", "TEST"),
            audiences=anpr.credentials.get("audiences") or {},
            assertion_audience=pdnd.credentials.get("assertion_audience"), timeout=anpr.timeout,
            client_cert=(cert, cert_key) if cert and cert_key else None, ca_file=anpr.credential("ca_file") or None,
        )

    def __init__(self, base_url: str, *, sender: str, key: ClientKey, token_url: str,
                 purposes: dict[str, str] | None = None, environment: str = "TEST",
                 audiences: dict[str, str] | None = None, assertion_audience: str | None = None,
                 timeout: tuple[float, float] = (5.0, 30.0), client_cert: tuple[str, str] | None = None,
                 ca_file: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.sender = sender
        self.key = key
        self.environment = environment
        self.purposes = purposes or {}
        self.audiences = audiences or {}
        self.vouchers = VoucherClient(token_url, key, assertion_audience=assertion_audience, timeout=timeout)
        self.http = HttpClient(self.base_url, platform="ANPR", timeout=timeout, client_cert=client_cert,
                               ca_file=ca_file)
        self._evidence: dict[tuple[str, str, str, str], tuple[str, float]] = {}

    # --- REST -------------------------------------------------------------------------------------
    def audience(self, code: str) -> str:
        return self.audiences.get(code) or f"{self.base_url}/{ESERVICES[code].path_name}/v1"

    def purpose(self, code: str) -> str:
        return self.purposes.get(code) or f"demo-purpose-{code}"

    def _evidence_for(self, code: str, caller: Caller) -> str:
        cache_key = (code, caller.user_id, caller.location, caller.loa)
        cached = self._evidence.get(cache_key)
        if cached and cached[1] > time.time():
            return cached[0]
        token = tracking_evidence(self.key, audience=self.audience(code), purpose_id=self.purpose(code),
                                  user_id=caller.user_id, user_location=caller.location, loa=caller.loa)
        self._evidence[cache_key] = (token, time.time() + EVIDENCE_REUSE)
        return token

    def _modi_headers(self, code: str, body: bytes, caller: Caller, *, fresh: bool) -> dict[str, str]:
        service = ESERVICES[code]
        purpose = self.purpose(code)
        evidence = self._evidence_for(code, caller) if service.audit else None
        digest_claim = sha256_hex(evidence) if evidence else None
        if fresh:
            self.vouchers.invalidate(purpose, digest_claim)
        voucher = self.vouchers.voucher(purpose, digest=digest_claim)
        digest = body_digest(body)
        headers = {
            "Authorization": f"Bearer {voucher.access_token}",
            "Content-Type": "application/json",
            "Digest": digest,
            "Agid-JWT-Signature": integrity_signature(self.key, audience=self.audience(code), digest=digest,
                                                      content_type="application/json"),
        }
        if evidence:
            headers["Agid-JWT-TrackingEvidence"] = evidence
        return headers

    def lookup(self, code: str, fiscal_code: str, *, caller: Caller | None = None, reason: str = "",
               on_date: dt.date | None = None) -> LookupResult:
        """E002 lookup of one person on e-service `code` (C001, C020, C021, C030)."""
        if code not in ESERVICES:
            raise InvalidRequest(_("Servizio ANPR sconosciuto: %(code)s") % {"code": code})
        service = ESERVICES[code]
        caller = caller or Caller()
        criteria = {"codiceFiscale": fiscal_code.strip().upper()}
        data = {"dataRiferimentoRichiesta": (on_date or dt.date.today()).isoformat(),
                "motivoRichiesta": (reason or "accertamento")[:100], "casoUso": code}
        if service.flat:
            body_obj: dict[str, Any] = {"idOperazioneClient": rest_operation_id(), "criteriRicerca": criteria,
                                        "datiRichiesta": data}
        else:
            body_obj = {
                "testataRichiesta": {
                    "idOperazioneClient": rest_operation_id(), "codMittente": self.sender,
                    "codDestinatario": "ANPR02", "operazioneRichiesta": "E002",
                    "dataOraRichiesta": dt.datetime.now().replace(microsecond=0).isoformat(),
                    "tipoOperazione": "C", "tipoInvio": self.environment,
                },
                "criteriRicerca": criteria,
                "datiRichiesta": {"schedaAnagraficaRichiesta": "1", **data},
            }
        check_request(service.spec, "post", E002_PATH, body_obj)
        body = json.dumps(body_obj, ensure_ascii=False).encode("utf-8")
        path = f"/{service.path_name}/v1{E002_PATH}"
        response = None
        for attempt in (1, 2):
            response = self.http.request("POST", path, content=body,
                                         headers=self._modi_headers(code, body, caller, fresh=attempt == 2),
                                         allowed_statuses=(400, 401, 403, 404))
            if response.status not in (401, 403):
                break
        assert response is not None
        if response.status in (401, 403):
            raise with_status(PlatformRefused(
                _("ANPR ha rifiutato l'autorizzazione PDND anche con un voucher rinnovato: %(detail)s")
                % {"detail": _detail(response)}, platform_code="PDND_AUTH"), response.status)
        payload = response.json()
        check_response(service.spec, "post", E002_PATH, response.status, payload)
        errors = payload.get("listaErrori") or []
        anpr_id = str(payload.get("idOperazioneANPR") or (payload.get("testataRisposta") or {}).get(
            "idOperazioneANPR") or "")
        if response.status == 404:
            return LookupResult(found=False, anpr_operation_id=anpr_id,
                                error_code=str(errors[0].get("codiceErroreAnomalia")) if errors else "")
        if response.status == 400:
            first = errors[0] if errors else {}
            raise with_status(PlatformRefused(
                _("ANPR ha rifiutato la consultazione (%(code)s): %(text)s")
                % {"code": first.get("codiceErroreAnomalia", "-"), "text": first.get("testoErroreAnomalia", "-")},
                platform_code=first.get("codiceErroreAnomalia")), 400)
        subjects = [_subject(item) for item in (payload.get("listaSoggetti") or {}).get("datiSoggetto") or []]
        return LookupResult(found=bool(subjects), subjects=subjects, anpr_operation_id=anpr_id)

    # --- SOAP -------------------------------------------------------------------------------------
    def header(self, operation: str, operation_id: str, **extra: Any) -> messages.Header:
        return messages.Header(operation=operation, operation_id=operation_id, sender=self.sender,
                               environment=self.environment, **extra)

    def call(self, service: soap.Service, payload: Any) -> messages.Answer:
        problems = soap.schema_errors(payload, service)
        if problems:
            raise InvalidRequest(_("La richiesta ANPR non rispetta lo schema ufficiale: %(error)s")
                                 % {"error": problems[0]}, details={"errors": problems[:10]})
        response = self.http.request("POST", service.path, content=soap.envelope(payload),
                                     headers={"Content-Type": soap.SOAP_CONTENT_TYPE, "SOAPAction": '""'},
                                     expected_content_types=XML_TYPES, allowed_statuses=(500,))
        try:
            answer_payload = soap.body_payload(response.content)
        except soap.SoapFault as fault:
            if "Client" in fault.code:
                raise with_status(PlatformRefused(
                    _("ANPR ha rifiutato il messaggio: %(text)s") % {"text": fault.message[:300]},
                    platform_code=fault.code), response.status) from fault
            raise with_status(ConnectorUnavailable(
                _("ANPR ha avuto un errore interno; la richiesta sarà ripetuta."), platform_code=fault.code,
                details={"fault": fault.message[:300]}), response.status) from fault
        except InvalidResponse:
            if response.status >= 500:
                raise with_status(ConnectorUnavailable(
                    _("Il servizio ANPR è momentaneamente non disponibile (HTTP %(status)s); "
                      "la richiesta sarà ripetuta.") % {"status": response.status}), response.status) from None
            raise
        errors = soap.schema_errors(answer_payload, service)
        if errors:
            raise InvalidResponse(_("La risposta ANPR non rispetta lo schema ufficiale: %(error)s")
                                  % {"error": errors[0]}, details={"errors": errors[:10]})
        answer = messages.read_answer(answer_payload)
        if not answer.ok:
            first = answer.errors[0] if answer.errors else messages.AnprError("EN000", "E", "")
            raise PlatformRefused(
                _("ANPR ha respinto l'operazione (%(code)s): %(text)s") % {"code": first.code, "text": first.text},
                platform_code=first.code, details={"errors": [e.as_dict() for e in answer.errors]},
            )
        return answer


def _detail(response: Any) -> str:
    try:
        body = response.json()
        return str(body.get("detail") or body.get("title") or "")[:300]
    except Exception:  # noqa: BLE001
        return response.text[:300]


def _subject(item: dict[str, Any]) -> dict[str, Any]:
    g = item.get("generalita") or {}
    residence = (item.get("residenza") or [{}])[0]
    address = residence.get("indirizzo") or {}
    comune = address.get("comune") or {}
    return {
        "fiscal_code": (g.get("codiceFiscale") or {}).get("codFiscale", ""),
        "family_name": g.get("cognome", ""), "given_name": g.get("nome", ""), "sex": g.get("sesso", ""),
        "birth_date": g.get("dataNascita", ""),
        "id_anpr": (item.get("identificativi") or {}).get("idANPR") or g.get("idSchedaSoggettoANPR", ""),
        "relation": (item.get("legameSoggetto") or {}).get("codiceLegame", ""),
        "civil_status": str((item.get("statoCivile") or {}).get("statoCivile") or ""),
        "family_id_anpr": (item.get("famigliaConvivenza") or {}).get("idFamigliaConvivenzaANPR", ""),
        "address": {
            "street": (address.get("toponimo") or {}).get("denominazioneToponimo", ""),
            "species": (address.get("toponimo") or {}).get("specie", ""),
            "house_number": (address.get("numeroCivico") or {}).get("numero", ""),
            "postcode": address.get("cap", ""), "municipality_name": comune.get("nomeComune", ""),
            "municipality_istat": comune.get("codiceIstat", ""), "province": comune.get("siglaProvinciaIstat", ""),
            "since": residence.get("dataDecorrenzaResidenza", ""),
        } if address else None,
    }


def client_for(tenant: Any, tenant_code: str) -> AnprClient:
    """The ANPR client of a tenant (Tenant, id or ISTAT code; `tenant_code` = its ISTAT code)."""
    return AnprClient.from_config(tenant, sender=tenant_code)
