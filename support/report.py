"""The SLA report of malfunction tickets: per month and level, tickets closed, met and missed,
service-time durations and the penalties of the tenant's penalty table (issue 12).

Each ticket is measured with the terms it was opened with (`sla_terms` in its data, copied from
support.terms when it was reported), so a later change of the table does not rewrite past months.
Penalty of a missed ticket: the level's fixed sum plus its sum per started service hour of delay.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.script_helpers import ROME

from .terms import LEVELS

PROCESS_ID = "malfunction_ticket"


@dataclass
class LevelRow:
    level: str
    label: str = ""
    tickets: int = 0
    met: int = 0
    missed: int = 0
    total_minutes: int = 0
    max_minutes: int = 0
    breach_minutes: int = 0
    penalty: Decimal = field(default_factory=lambda: Decimal("0.00"))

    @property
    def average_minutes(self) -> int:
        return round(self.total_minutes / self.tickets) if self.tickets else 0

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "label": self.label, "tickets": self.tickets, "met": self.met,
                "missed": self.missed, "average_minutes": self.average_minutes, "max_minutes": self.max_minutes,
                "breach_minutes": self.breach_minutes, "penalty": self.penalty}


def _decimal(value: Any) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal("0")
    return result if result.is_finite() and result >= 0 else Decimal("0")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def penalty_of(data: dict[str, Any]) -> Decimal:
    """The penalty a closed ticket's data gives (0 when the time was met)."""
    breach = _int(data.get("sla_breach_minutes"))
    if data.get("sla_met") is not False and not breach:
        return Decimal("0.00")
    level = str(data.get("sla_level") or "")
    terms = ((data.get("sla_terms") or {}).get("levels") or {}).get(level) or {}
    hours = -(-breach // 60)  # every started hour
    return (_decimal(terms.get("penalty_fixed")) + hours * _decimal(terms.get("penalty_per_hour"))).quantize(
        Decimal("0.01"))


def month_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(year, month, 1, tzinfo=ROME)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=ROME)
    return start, end


def sla_report(*, tenant, year: int, month: int) -> dict[str, Any]:
    """Rows per level (4 to 1) and a total, for the tickets of `tenant` closed in the month."""
    from cases.models import Case, CaseStatus

    from .terms import terms_of

    start, end = month_bounds(year, month)
    labels = {lv: entry["label"] for lv, entry in terms_of(tenant)["levels"].items()}
    rows = {lv: LevelRow(level=lv, label=labels.get(lv, lv)) for lv in LEVELS}
    tickets = (Case.objects.filter(tenant=tenant, process_id=PROCESS_ID, status=CaseStatus.CLOSED,
                                   closed_at__gte=start, closed_at__lt=end)
               .values_list("number", "data", "closed_at").order_by("closed_at"))
    details = []
    for number, data, closed_at in tickets:
        level = str(data.get("sla_level") or "")
        row = rows.get(level)
        if row is None:
            continue
        minutes = _int(data.get("sla_consumed"))
        missed = data.get("sla_met") is False
        penalty = penalty_of(data)
        row.tickets += 1
        row.missed += missed
        row.met += not missed
        row.total_minutes += minutes
        row.max_minutes = max(row.max_minutes, minutes)
        row.breach_minutes += _int(data.get("sla_breach_minutes"))
        row.penalty += penalty
        details.append({"number": number, "level": level, "closed_at": closed_at.astimezone(ROME),
                        "minutes": minutes, "target_minutes": _int(data.get("sla_target")),
                        "met": not missed, "breach_minutes": _int(data.get("sla_breach_minutes")),
                        "penalty": penalty})
    total = LevelRow(level="", label="Totale")
    for row in rows.values():
        total.tickets += row.tickets
        total.met += row.met
        total.missed += row.missed
        total.total_minutes += row.total_minutes
        total.max_minutes = max(total.max_minutes, row.max_minutes)
        total.breach_minutes += row.breach_minutes
        total.penalty += row.penalty
    return {"year": year, "month": month, "levels": [rows[lv] for lv in LEVELS], "total": total,
            "tickets": details}


REPORT_COLUMNS = [("level", "Livello"), ("label", "Descrizione"), ("tickets", "Segnalazioni"),
                  ("met", "Nei tempi"), ("missed", "Oltre i tempi"), ("average_minutes", "Durata media (min)"),
                  ("max_minutes", "Durata massima (min)"), ("breach_minutes", "Ritardo totale (min)"),
                  ("penalty", "Penali (EUR)")]


def chart_svg(report: dict[str, Any]) -> str:
    """A stacked bar per level (met, missed), server-rendered, with a text alternative."""
    from django.utils.html import escape

    width, bar_h, gap, left = 520, 28, 14, 90
    rows = report["levels"]
    peak = max([r.tickets for r in rows] + [1])
    height = len(rows) * (bar_h + gap) + 40
    scale = (width - left - 60) / peak
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="sla-chart-title sla-chart-desc" '
             f'viewBox="0 0 {width} {height}" width="100%" class="sla-chart">',  # no style attribute: the CSP forbids it
             '<title id="sla-chart-title">Segnalazioni per livello: nei tempi e oltre i tempi</title>',
             '<desc id="sla-chart-desc">' + escape("; ".join(
                 f"livello {r.level}: {r.met} nei tempi, {r.missed} oltre i tempi" for r in rows)) + "</desc>"]
    for i, row in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        met_w, missed_w = row.met * scale, row.missed * scale
        parts.append(f'<text x="0" y="{y + bar_h * 0.7:.0f}" font-size="14">Livello {escape(row.level)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{met_w:.1f}" height="{bar_h}" fill="#006100"/>')
        parts.append(f'<rect x="{left + met_w:.1f}" y="{y}" width="{missed_w:.1f}" height="{bar_h}" '
                     f'fill="#a61919" stroke="#000" stroke-dasharray="4 2"/>')
        parts.append(f'<text x="{left + met_w + missed_w + 6:.1f}" y="{y + bar_h * 0.7:.0f}" font-size="14">'
                     f'{row.met} / {row.missed}</text>')
    legend_y = height - 12
    parts.append(f'<rect x="{left}" y="{legend_y - 11}" width="12" height="12" fill="#006100"/>'
                 f'<text x="{left + 18}" y="{legend_y}" font-size="13">nei tempi</text>'
                 f'<rect x="{left + 110}" y="{legend_y - 11}" width="12" height="12" fill="#a61919" stroke="#000" '
                 f'stroke-dasharray="4 2"/><text x="{left + 128}" y="{legend_y}" font-size="13">oltre i tempi</text>')
    parts.append("</svg>")
    return "".join(parts)
