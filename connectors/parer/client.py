"""PARER / SACER synchronous deposit of a documentary unit (`/VersamentoSync`).

Multipart POST with fields VERSIONE, LOGINNAME, PASSWORD, XMLSIP (the SIP
index, versReq/WSRequestVersamento.xsd) and one file part per component, named
by the component's ID. The answer is an `EsitoVersamento` XML
(versResp/WSResponseVersamento.xsd), parsed with the hardened parser and
validated before we trust it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from ..base import config
from ..base.errors import ConnectorUnavailable, InvalidResponse, PlatformRefused, XmlSchemaInvalid
from ..base.http import XML_TYPES, HttpClient
from ..base.specs import spec_path
from ..base.xml import parse_xml, validate

REQUEST_XSD = "parer/schemas/versReq/WSRequestVersamento.xsd"
RESPONSE_XSD = "parer/schemas/versResp/WSResponseVersamento.xsd"
# SACER's code for "this key was already deposited": after a lost answer, the
# earlier deposit succeeded, so we treat it as done (see simulator for the shape).
DUPLICATE_CODES = {"UD-002-001"}
# SACER's "errore di sistema": not the SIP's fault, worth retrying later.
SYSTEM_ERROR_CODES = {"666", "666P"}


@dataclass(frozen=True)
class ParerFile:
    component_id: str
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass
class DepositOutcome:
    outcome: str  # POSITIVO | WARNING
    urn_sip: str | None
    deposited_at: str | None
    key: dict[str, str | None]
    warnings: list[dict[str, str | None]] = field(default_factory=list)
    already_preserved: bool = False

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "urn_sip": self.urn_sip, "deposited_at": self.deposited_at,
                "key": self.key, "warnings": self.warnings, "already_preserved": self.already_preserved}


class ParerClient:
    platform = "parer"
    MIN_READ_TIMEOUT = 30.0  # a deposit of large files: never wait less than this for SACER's answer

    @classmethod
    def from_config(cls, source: Any) -> ParerClient:
        """The client of a tenant (Tenant, id, ISTAT code, None for the demo) or of a PlatformConfig."""
        cfg = config.resolve(cls.platform, source)
        connect, read = cfg.timeout
        return cls(cfg.base_url, username=cfg.credential("username"), password=cfg.credential("password"),
                   version=cfg.credential("version", "1.5"), timeout=(connect, max(read, cls.MIN_READ_TIMEOUT)))

    def __init__(self, base_url: str, *, username: str, password: str, version: str = "1.5",
                 timeout: tuple[float, float] = (5.0, 120.0)) -> None:
        self.username = username
        self.password = password
        self.version = version
        self.http = HttpClient(base_url, platform="PARER", timeout=timeout, secrets_to_mask=[password],
                               max_response_bytes=20 * 1024 * 1024)

    def send_sip(self, sip_xml: bytes, files: list[ParerFile]) -> DepositOutcome:
        try:
            validate(parse_xml(sip_xml), spec_path(REQUEST_XSD))
        except XmlSchemaInvalid as exc:
            raise XmlSchemaInvalid(_("Il SIP non rispetta lo schema PARER: %(error)s") % {"error": exc.message},
                                   details=exc.details) from exc
        response = self.http.request(
            "POST", "/VersamentoSync",
            data={"VERSIONE": self.version, "LOGINNAME": self.username, "PASSWORD": self.password,
                  "XMLSIP": sip_xml.decode("utf-8")},
            files={f.component_id: (f.filename, f.content, f.content_type) for f in files},
            expected_content_types=XML_TYPES,
        )
        return self.parse_outcome(response.content)

    @staticmethod
    def parse_outcome(body: bytes) -> DepositOutcome:
        root = parse_xml(body)
        try:
            validate(root, spec_path(RESPONSE_XSD))
        except XmlSchemaInvalid as exc:
            raise InvalidResponse(_("La risposta di PARER non rispetta lo schema: %(error)s") % {"error": exc.message},
                                  details=exc.details) from exc
        outcome = root.findtext("EsitoGenerale/CodiceEsito")
        code = root.findtext("EsitoGenerale/CodiceErrore")
        message = root.findtext("EsitoGenerale/MessaggioErrore")
        key_el = root.find("UnitaDocumentaria/Chiave")
        key = {"number": key_el.findtext("Numero"), "year": key_el.findtext("Anno"),
               "registry": key_el.findtext("TipoRegistro")} if key_el is not None else {}
        if outcome == "NEGATIVO":
            if code in DUPLICATE_CODES:
                return DepositOutcome(outcome="POSITIVO", urn_sip=root.findtext("URNSIP"),
                                      deposited_at=root.findtext("DataVersamento"), key=key, already_preserved=True)
            errors = [{"code": e.findtext("CodiceErrore"), "message": e.findtext("MessaggioErrore")}
                      for e in root.findall("ErroriUlteriori/Errore")]
            if code in SYSTEM_ERROR_CODES:
                raise ConnectorUnavailable(
                    _("PARER ha un errore di sistema (codice %(code)s); il versamento sarà ripetuto.")
                    % {"code": code}, platform_code=code, details={"errors": errors},
                )
            raise PlatformRefused(
                _("PARER ha rifiutato il versamento (codice %(code)s): %(message)s")
                % {"code": code or "-", "message": message or "-"},
                platform_code=code, details={"errors": errors},
            )
        warnings = [{"code": w.findtext("CodiceWarning") or w.findtext("CodiceErrore"),
                     "message": w.findtext("MessaggioWarning") or w.findtext("MessaggioErrore")}
                    for w in root.findall("WarningUlteriori/*")]
        return DepositOutcome(outcome=outcome or "", urn_sip=root.findtext("URNSIP"),
                              deposited_at=root.findtext("DataVersamento"), key=key, warnings=warnings)
