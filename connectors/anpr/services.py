"""ANPR's REST e-services on PDND that Procedo uses, and their ModI patterns.

Each is `POST /<e-service>/v1/anpr-service-e002` with the E002 envelope
(criteriRicerca, datiRichiesta and either the PDND-era `idOperazioneClient` at the
root, or, in the older C020 spec, a full `testataRichiesta`). The OpenAPI copies ship in
`openapi/`; C030 (national unique id) has no copy there, so its requests and
answers are validated against C001's E002 schemas, the same envelope.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EService:
    code: str
    path_name: str  # the e-service segment of the gateway URL
    spec: str  # shipped OpenAPI file, relative to the connectors package
    audit: bool  # AUDIT_REST_02 (tracking evidence bound to the voucher) required
    family: bool = False  # the answer lists the whole household
    flat: bool = True  # PDND-era envelope (idOperazioneClient at the root); C020 still has testataRichiesta
    description: str = ""


ESERVICES: dict[str, EService] = {
    "C001": EService("C001", "C001-servizioNotifica", "anpr/openapi/C001-consultazioneANPR.yml", audit=True,
                     description="Consultazione ANPR (C001)"),
    "C020": EService("C020", "C020-servizioAccertamentoResidenza", "anpr/openapi/C020-servizioAccertamentoResidenza.yml",
                     audit=False, flat=False, description="Accertamento residenza (C020)"),
    "C021": EService("C021", "C021-servizioAccertamentoStatoFamiglia",
                     "anpr/openapi/C021-servizioAccertamentoStatoFamiglia.yaml", audit=True, family=True,
                     description="Accertamento stato di famiglia (C021)"),
    "C030": EService("C030", "C030-servizioAccertamentoIdUnicoNazionale", "anpr/openapi/C001-consultazioneANPR.yml",
                     audit=True, description="Accertamento identificativo unico nazionale (C030)"),
}
