"""Italian municipalities: load ANPR's archive, search it, resolve what a person typed.

Form fields with JSON Schema `"format": "municipality"` store the 6-digit ISTAT code; people
type or pick a name ("Capannori", "Capannori (LU)"), and the code, the Belfiore code or the
label offered by the picker ("Capannori (LU) · 046007") are understood too.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import re
import unicodedata
from pathlib import Path

from django.db import transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

# ANPR's archive of municipalities ships with the product (source and licence in data/README.md).
ARCHIVE = Path(__file__).resolve().parent / "data" / "ANPR_archivio_comuni.csv.gz"
OPEN_END = dt.date(9999, 12, 31)


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain.replace("'", " ").replace("-", " ")).strip().lower()


def archive_path() -> Path:
    return ARCHIVE


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def load_archive(model, path: Path | None = None, *, today: dt.date | None = None) -> int:
    """Replace the table with the archive's rows (idempotent). `model` lets migrations pass theirs."""
    path = path or archive_path()
    today = today or dt.date.today()
    rows = []
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            valid_from, valid_to = _date(row["DATAISTITUZIONE"]), _date(row["DATACESSAZIONE"])
            current = row.get("STATO") == "A" and (valid_to is None or valid_to >= today)
            rows.append(model(
                anpr_id=int(row["ID"]), istat_code=row["CODISTAT"].strip(), belfiore_code=row["CODCATASTALE"].strip(),
                name=row["DENOMINAZIONE_IT"].strip(), search_name=normalise(row["DENOMINAZIONE_IT"]),
                other_name=row.get("ALTRADENOMINAZIONE", "").strip(), province=row.get("SIGLAPROVINCIA", "").strip(),
                valid_from=valid_from, valid_to=None if valid_to == OPEN_END else valid_to, current=current,
            ))
    with transaction.atomic():
        model.objects.all().delete()
        model.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def _model():
    from .models import Municipality

    return Municipality


def search(query: str, *, limit: int = 20) -> list:
    """Best matches for what is typed: codes exactly, names by prefix then anywhere; current first."""
    text = (query or "").strip()
    if len(text) < 2:
        return []
    qs: QuerySet = _model().objects.all()
    if text.isdigit():
        return _distinct(qs.filter(istat_code__startswith=text).order_by("-current", "name")[: limit * 4], limit)
    if re.fullmatch(r"[A-Za-z]\d{3}", text):
        return _distinct(qs.filter(belfiore_code=text.upper()).order_by("-current", "name")[: limit * 4], limit)
    needle = normalise(text)
    rows = (
        qs.filter(Q(search_name__startswith=needle) | Q(search_name__contains=needle))
        .annotate(prefix=Case(When(search_name__startswith=needle, then=Value(0)), default=Value(1),
                              output_field=IntegerField()))
        .order_by("-current", "prefix", "name", "-valid_from")[: limit * 4]
    )
    return _distinct(rows, limit)


def _distinct(rows, limit: int) -> list:
    """One entry per (code, name): the archive keeps a row per administrative change."""
    seen, found = set(), []
    for row in rows:
        key = (row.istat_code, row.search_name)
        if key not in seen:
            seen.add(key)
            found.append(row)
        if len(found) == limit:
            break
    return found


def resolve(text: str):
    """The municipality meant by a typed or picked value, or None when it is unknown or ambiguous."""
    value = (text or "").strip()
    if not value:
        return None
    qs = _model().objects.order_by("-current", "-valid_from")
    code = re.search(r"(\d{6})\s*$", value)
    if code:
        return qs.filter(istat_code=code.group(1)).first()
    if re.fullmatch(r"[A-Za-z]\d{3}", value):
        return qs.filter(belfiore_code=value.upper()).first()
    match = re.fullmatch(r"(.+?)\s*\(([A-Za-z]{2})\)", value)
    name, province = (match.group(1), match.group(2).upper()) if match else (value, None)
    found = qs.filter(search_name=normalise(name))
    if province:
        found = found.filter(province=province)
    current = [m for m in found if m.current]
    candidates = current or list(found)
    codes = {m.istat_code for m in candidates}
    return candidates[0] if len(codes) == 1 else None


def label_for(code: str) -> str:
    found = _model().objects.filter(istat_code=code).order_by("-current", "-valid_from").first()
    if found is None:
        return code
    suffix = "" if found.current else f" — cessato il {found.valid_to:%d/%m/%Y}" if found.valid_to else ""
    return f"{found.label}{suffix}"


def exists(code: str) -> bool:
    return isinstance(code, str) and bool(re.fullmatch(r"\d{6}", code)) and \
        _model().objects.filter(istat_code=code).exists()
