"""Engine operations of the registry app (registered by RegistryConfig.ready).

`registry.death_act_lookup` links a case to a death act of the municipality's civil-status
registers (art. 72 ff. DPR 396/2000): the act must be closed (numbered) and name the deceased.
A missing act is an answer, not an error: the procedure decides what to do (wait for the act,
or accept one of another municipality verified by the officer).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from common.operations import OperationContext, OperationParam, PermanentError, operation

# The case's forms write the register's part as a Roman numeral (Parte I/II, DPR 396/2000 art. 72);
# the registry numbers parts "1", "2".
_PARTS = {"I": "1", "II": "2", "1": "1", "2": "2"}


def _not_found(code: str, message: str) -> dict[str, Any]:
    return {"found": False, "code": code, "message": message, "act_id": None, "reference": ""}


@operation(
    "registry.death_act_lookup",
    description="Cerca nei registri di stato civile del Comune l'atto di morte chiuso (anno, parte, serie, numero) "
    "che nomina il defunto (codice fiscale). Risultato: found, code, message, act_id, reference, death_date, "
    "death_time, death_place.",
    params=(OperationParam("fiscal_code", required=True), OperationParam("year", required=True),
            OperationParam("number", required=True), "part", "series"),
)
def death_act_lookup(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    from .models import ActKind, ActRole, ActStatus, CivilAct

    fiscal_code = str(params.get("fiscal_code") or "").strip().upper()
    part = _PARTS.get(str(params.get("part") or "I").strip().upper())
    series = str(params.get("series") or "").strip().upper()
    try:
        year = int(params.get("year"))
        number = int(str(params.get("number")).strip())
    except (TypeError, ValueError) as exc:
        raise PermanentError(_("Anno o numero dell'atto di morte non validi."), platform_code="death_act_reference_invalid") from exc
    if not fiscal_code or part is None or not (1 <= number <= 999_999) or not (1900 <= year <= 2999) or len(series) > 5:
        raise PermanentError(_("Estremi dell'atto di morte non validi."), platform_code="death_act_reference_invalid")
    reference = f"{year} parte {part}{f' serie {series}' if series else ''} n. {number}"
    act = (CivilAct.objects.for_tenant(ctx.tenant_id)
           .filter(kind=ActKind.DEATH, year=year, part=part, series=series, number=number).first())
    if act is None:
        # Drafts have no number yet: a draft for the same person means the act is being drawn up.
        draft = (CivilAct.objects.for_tenant(ctx.tenant_id)
                 .filter(kind=ActKind.DEATH, status=ActStatus.DRAFT, parties__role=ActRole.DECEASED,
                         parties__person__fiscal_code=fiscal_code).exists())
        if draft:
            return _not_found("death_act_not_closed", _(
                "L'atto di morte del defunto è in redazione e non è ancora chiuso: l'autorizzazione attende la sua "
                "chiusura."))
        return _not_found("death_act_not_found", _(
            "Nei registri di stato civile del Comune non c'è l'atto di morte %(reference)s.") % {"reference": reference})
    named = act.parties.filter(role=ActRole.DECEASED, person__fiscal_code=fiscal_code).exists()
    if not named:
        return _not_found("death_act_other_person", _(
            "L'atto di morte %(reference)s non riguarda il defunto indicato nella richiesta.") % {"reference": reference})
    data = act.data or {}
    return {"found": True, "code": "ok", "message": "", "act_id": act.pk,
            "reference": act.register_reference, "death_date": data.get("death_date", ""),
            "death_time": data.get("death_time", ""), "death_place": data.get("death_place", "")}


@operation(
    "registry.marriage_act_link",
    description="Collega la pratica (pubblicazioni di matrimonio) all'atto di matrimonio chiuso nei registri del "
    "Comune che nomina i due sposi ed è celebrato nel periodo di validità; se l'atto non è ancora chiuso, il "
    "collegamento si completa alla sua chiusura. Risultato: linked, act_id, reference, message.",
    params=(OperationParam("fiscal_codes", required=True), "valid_from", "valid_to"),
)
def marriage_act_link(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    import datetime as dt

    from common.errors import ValidationFailed

    from .civil_status.services import marriage_act_link as link_service

    if ctx.case_id is None:
        raise PermanentError(_("Il collegamento all'atto di matrimonio richiede una pratica."),
                             platform_code="case_required")
    codes = params.get("fiscal_codes")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise PermanentError(_("Servono i codici fiscali dei due sposi."), platform_code="spouses_invalid")
    window = []
    for key in ("valid_from", "valid_to"):
        value = params.get(key)
        try:
            window.append(dt.date.fromisoformat(str(value)[:10]) if value else None)
        except ValueError as exc:
            raise PermanentError(_("Data non valida: %(v)s") % {"v": str(value)[:20]},
                                 platform_code="date_invalid") from exc
    try:
        link = link_service(tenant_id=ctx.tenant_id, case_id=ctx.case_id, case_number=ctx.case_number or "",
                            fiscal_codes=codes, valid_from=window[0], valid_to=window[1])
    except ValidationFailed as exc:
        raise PermanentError(exc.message, platform_code=exc.code or "invalid") from exc
    if link.act is None:
        return {"linked": False, "act_id": None, "reference": "", "message": _(
            "L'atto di matrimonio degli sposi non è ancora chiuso nei registri del Comune (o il matrimonio è stato "
            "celebrato altrove): il collegamento si completa quando l'atto viene chiuso.")}
    return {"linked": True, "act_id": link.act_id, "reference": link.act.register_reference, "message": ""}
