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
