"""A realistic synthetic legacy export (no real dump exists here), seeded and reproducible.

Writes the files of registry.legacy.format into a folder, with the defects real exports have, and
a manifest `difetti.json` listing each injected defect with the reason the importer must give.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from .. import codes
from ..fiscal_code import encode
from .format import FILES

FAMILY_NAMES = ("Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti De_Luca "
                "Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro Mariani Rinaldi Caruso "
                "Ferrara Galli Martini Leone Longo Gentile Martinelli Vitale Lombardo Serra Coppola De_Santis "
                "D'Angelo Marchetti Parisi Villa Conte Ferri Fabbri Bianco Marini Grasso Valentini Messina Sala "
                "De_Angelis Gatti Pellegrini Palumbo Sanna Farina Rizzi Monti Cattaneo Morelli Amato Silvestri "
                "Mazza Testa Grassi Pellegrino Carbone Giuliani Benedetti Barone Rossetti Caputo Montanari Guerra "
                "Palmieri Bernardi Martino Fiore De_Rosa Ferraro Pagano Lucchesi Pardini Del_Carlo Giannini "
                "Bertolucci Nieri Pieroni Baroni Marcucci Lazzarini Puccinelli Matteucci Simonetti").split()
MALE_NAMES = ("Giuseppe Giovanni Antonio Mario Luigi Francesco Angelo Vincenzo Pietro Salvatore Carlo Franco "
              "Domenico Bruno Paolo Michele Giorgio Aldo Sergio Luciano Marco Andrea Luca Alessandro Lorenzo "
              "Matteo Leonardo Tommaso Riccardo Edoardo Gabriele Federico Davide Simone Stefano Roberto Fabio "
              "Massimo Daniele Enrico Alberto Filippo Emanuele Nicola Claudio Giacomo").split()
FEMALE_NAMES = ("Maria Anna Giuseppina Rosa Angela Giovanna Teresa Lucia Carmela Caterina Francesca Antonietta "
                "Paola Laura Giulia Sofia Aurora Alice Ginevra Emma Giorgia Greta Beatrice Chiara Martina Sara "
                "Elena Valentina Silvia Federica Alessandra Elisa Irene Cristina Barbara Monica Roberta Daniela "
                "Simona Claudia Ilaria Veronica Serena Marta").split()
STREET_NAMES = ("Roma Giuseppe Garibaldi Giuseppe_Mazzini Dante_Alighieri Vittorio_Emanuele_II Cavour "
                "Giacomo_Matteotti della_Repubblica XX_Settembre IV_Novembre Antonio_Gramsci Aldo_Moro "
                "Giovanni_Pascoli San_Michele del_Fosso Pesciatina Romana delle_Ville della_Chiesa del_Mulino "
                "Alessandro_Manzoni Giacomo_Puccini Guglielmo_Marconi Galileo_Galilei Leonardo_da_Vinci "
                "Piero_Gobetti Carlo_Pisacane della_Stazione dei_Pini degli_Orti del_Borgo di_Tiglio di_Sotto "
                "di_Sopra Nuova Vecchia del_Piaggione delle_Cave dei_Bocchi di_Corte di_Lammari di_Marlia "
                "di_Segromigno di_Camigliano di_Gragnano di_Lunata di_Capannori di_Tassignano di_Paganico "
                "Sandro_Pertini Enrico_Berlinguer Luigi_Einaudi Alcide_De_Gasperi Martiri_della_Liberta "
                "della_Resistenza Papa_Giovanni_XXIII Don_Minzoni Francesco_Petrarca Giosue_Carducci").split()
SPECIES = (("VIA", 75), ("PIAZZA", 8), ("VIALE", 5), ("VICOLO", 5), ("LOCALITA'", 4), ("CORTE", 3))
LOCALITIES = ("Capoluogo", "Lammari", "Marlia", "Segromigno", "Camigliano", "Gragnano", "Lunata", "Tassignano")
# Birth places in Italy: (ISTAT, Belfiore).
ITALIAN_PLACES = (("046017", "E715"), ("058091", "H501"), ("015146", "F205"), ("063049", "F839"),
                  ("050026", "G702"), ("048017", "D612"), ("082053", "G273"), ("046033", "L833"))
FOREIGN = ("201", "235", "436", "314", "243", "215", "605")  # Albania, Romania, Morocco, China, Ukraine, ...


@dataclass
class Defects:
    items: list[dict] = field(default_factory=list)

    def add(self, entity: str, key: str, reason: str) -> None:
        self.items.append({"entity": entity, "key": key, "reason": reason})


def _date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    if end <= start:
        return start
    return start + dt.timedelta(days=rng.randrange((end - start).days))


def _pick_weighted(rng: random.Random, items):
    total = sum(w for _, w in items)
    point = rng.uniform(0, total)
    for value, weight in items:
        point -= weight
        if point <= 0:
            return value
    return items[-1][0]


def generate(out: Path, *, people: int = 10_000, households: int = 4_000, seed: int = 13,
             municipality_istat: str = "046007", belfiore: str = "B648", today: dt.date | None = None) -> dict:
    """Write the export; returns counts and the injected defects (also in difetti.json)."""
    rng = random.Random(seed)
    today = today or dt.date(2026, 11, 30)
    out.mkdir(parents=True, exist_ok=True)
    defects = Defects()
    states = codes.foreign_states()

    # Street register and civici.
    n_streets = max(12, people // 45)
    streets, civici = [], []
    used_names: set[str] = set()
    for i in range(n_streets):
        base = rng.choice(STREET_NAMES).replace("_", " ")
        species = _pick_weighted(rng, SPECIES)
        name = base if (species, base) not in used_names else f"{base} {LOCALITIES[i % len(LOCALITIES)]}"
        used_names.add((species, name))
        code = f"V{i + 1:04d}"
        streets.append({"codice_via": code, "specie": species, "denominazione": name.upper(),
                        "codice_anncsu": f"{8000000 + i}", "localita": rng.choice(LOCALITIES),
                        "data_istituzione": "1960-01-01", "data_soppressione": ""})
    per_street = max(4, int(households * 1.1) // n_streets + 1)
    for street in streets:
        numbers = rng.sample(range(1, per_street * 3), per_street)
        for number in sorted(numbers):
            suffix = rng.choice(("", "", "", "", "", "", "A", "B"))
            civici.append({"codice_civico": f"C{len(civici) + 1:06d}", "codice_via": street["codice_via"],
                           "numero": str(number), "esponente": suffix, "codice_anncsu": "",
                           "data_istituzione": "1970-01-01", "data_soppressione": ""})
    # Defect: civici of streets missing from the street register (their residences become orphans too).
    ghost_civici = []
    for j in range(max(1, len(civici) // 200)):
        code = f"C9{j + 1:05d}"
        civici.append({"codice_civico": code, "codice_via": f"X{j + 1:04d}", "numero": str(j + 1), "esponente": "",
                       "codice_anncsu": "", "data_istituzione": "1980-01-01", "data_soppressione": ""})
        ghost_civici.append(code)
        defects.add("house_numbers", code, "street_not_in_register")
    valid_civici = [c["codice_civico"] for c in civici if c["codice_civico"] not in ghost_civici]

    # Households, people, members, residences.
    person_rows, household_rows, member_rows, residence_rows = [], [], [], []
    person_seq = iter(range(1, 10**9))
    residence_seq = iter(range(1, 10**9))
    sizes = [1] * households
    for _ in range(max(0, people - households)):
        sizes[rng.randrange(households)] += 1
    civico_of_household: dict[str, str] = {}
    for h_index, size in enumerate(sizes):
        hid = f"F{h_index + 1:06d}"
        cohabitation = size >= 6 and rng.random() < 0.5
        formed = _date(rng, dt.date(1990, 1, 1), dt.date(2024, 1, 1))
        household_rows.append({
            "id": hid, "tipo": "C" if cohabitation else "F", "id_anpr": f"{rng.randrange(10**8, 10**9)}",
            "denominazione": f"Casa di riposo {rng.choice(FAMILY_NAMES).replace('_', ' ')}" if cohabitation else "",
            "specie_convivenza": str(rng.choice((1, 2, 3))) if cohabitation else "",
            "data_costituzione": formed.isoformat(), "data_cessazione": ""})
        civico = rng.choice(valid_civici)
        civico_of_household[hid] = civico
        family_name = rng.choice(FAMILY_NAMES).replace("_", " ")
        head_birth = _date(rng, dt.date(1935, 1, 1), dt.date(1998, 1, 1))
        for m in range(size):
            pid = f"P{next(person_seq):07d}"
            if cohabitation:
                relationship = 24 if m == 0 else 25
                birth = _date(rng, dt.date(1925, 1, 1), dt.date(1950, 1, 1))
                surname = rng.choice(FAMILY_NAMES).replace("_", " ")
            elif m == 0:
                relationship, birth, surname = 1, head_birth, family_name
            elif m == 1 and rng.random() < 0.8:
                relationship, surname = 2, rng.choice(FAMILY_NAMES).replace("_", " ")
                birth = _date(rng, head_birth - dt.timedelta(days=2000), head_birth + dt.timedelta(days=2000))
            else:
                relationship, surname = 3, family_name
                birth = _date(rng, head_birth + dt.timedelta(days=365 * 20), min(today, head_birth + dt.timedelta(days=365 * 45)))
            sex = rng.choice("MF")
            given = rng.choice(MALE_NAMES if sex == "M" else FEMALE_NAMES)
            foreign = rng.random() < 0.08
            if foreign:
                state = states[rng.choice(FOREIGN)]
                place_istat, state_istat, belfiore_code, place_name = "", state.istat_code, state.belfiore_code, state.name
                citizenships = state.istat_code
            else:
                if rng.random() < 0.6:
                    place_istat, belfiore_code = municipality_istat, belfiore
                else:
                    place_istat, belfiore_code = rng.choice(ITALIAN_PLACES)
                state_istat, place_name, citizenships = "", "", codes.ITALY_ISTAT
            cf = encode(family_name=surname, given_name=given, sex=sex, birth_date=birth, place_code=belfiore_code)
            adult = (today - birth).days > 365 * 18
            civil = 2 if relationship == 2 or (relationship == 1 and size > 1 and adult) else (1 if not cohabitation else rng.choice((3, 1)))
            has_doc = adult and rng.random() < 0.7
            person_rows.append({
                "id": pid, "cognome": surname.upper(), "nome": given.upper(), "sesso": sex,
                "data_nascita": birth.isoformat() if rng.random() < 0.7 else f"{birth:%d/%m/%Y}",
                "comune_nascita_istat": place_istat, "stato_nascita_istat": state_istat, "luogo_nascita": place_name,
                "codice_fiscale": cf, "id_anpr": f"{rng.choice('ABCDEFGH')}{rng.randrange(10**7, 10**8)}",
                "cittadinanze": citizenships, "stato_civile": str(civil), "data_morte": "",
                "documento_tipo": "CIE" if has_doc else "", "documento_numero": f"CA{rng.randrange(10**5, 10**6)}AA" if has_doc else "",
                "documento_rilasciato_da": "Comune" if has_doc else "",
                "documento_data_rilascio": "2021-03-01" if has_doc else "", "documento_scadenza": "2031-03-01" if has_doc else ""})
            joined = max(formed, birth)
            member_rows.append({"id_famiglia": hid, "id_persona": pid, "relazione": str(relationship),
                                "dal": joined.isoformat(), "al": ""})
            # Residence history: sometimes an earlier address in the municipality, then the current one.
            start = max(birth, dt.date(1990, 1, 1))
            current_start = max(start, joined)
            if rng.random() < 0.35 and (current_start - start).days > 60:
                residence_rows.append(_residence(next(residence_seq), pid, rng.choice(valid_civici), "", start,
                                                 current_start, "NASCITA" if start == birth else "IMMIGRAZIONE",
                                                 "CAMBIO_ABITAZIONE", rng))
                opening = "CAMBIO_ABITAZIONE"
            else:
                opening = "NASCITA" if current_start == birth else rng.choice(("IMMIGRAZIONE", "IMMIGRAZIONE", "ESTERO"))
            residence_rows.append(_residence(next(residence_seq), pid, civico, hid, current_start, None, opening, "", rng))

    by_person = {r["id"]: r for r in person_rows}
    residences_of: dict[str, list[dict]] = {}
    for r in residence_rows:
        residences_of.setdefault(r["id_persona"], []).append(r)
    sample = rng.sample(person_rows, k=len(person_rows))
    cursor = iter(sample)
    rate = max(1, len(person_rows) // 100)  # about 1% of people for each defect class

    for _ in range(rate):  # wrong check character
        row = next(cursor)
        good = row["codice_fiscale"]
        row["codice_fiscale"] = good[:15] + chr(65 + (ord(good[15]) - 65 + 1) % 26)
        defects.add("people", row["id"], "fiscal_code_check_char")
    for _ in range(rate // 2):  # lower case with spaces: normalised
        row = next(cursor)
        cf = row["codice_fiscale"].lower()
        row["codice_fiscale"] = f"{cf[:6]} {cf[6:11]} {cf[11:]}"
        defects.add("people", row["id"], "fiscal_code_normalised")
    for _ in range(rate // 2):  # civil status code that does not exist
        row = next(cursor)
        row["stato_civile"] = "0"
        defects.add("people", row["id"], "civil_status_unknown")
    for _ in range(rate // 4):  # unreadable birth date: the person cannot be imported
        row = next(cursor)
        row["data_nascita"] = "31/02/19XX"
        defects.add("people", row["id"], "invalid_birth_date")
    duplicates = []
    for _ in range(rate):  # the same person entered twice under another id (same fiscal code)
        row = next(cursor)
        dup = dict(row, id=f"P{next(person_seq):07d}", id_anpr="")
        duplicates.append(dup)
        defects.add("people", dup["id"], "duplicate_person")
        # The copy has its own (older) residence row in the legacy system: it is re-attached to the kept
        # person, and overlaps nothing because it ends where the kept person's first residence starts.
        first = min(residences_of[row["id"]], key=lambda r: r["dal"])
        start = dt.date.fromisoformat(first["dal"]) - dt.timedelta(days=400)
        birth_text = row["data_nascita"]
        born = dt.date.fromisoformat(birth_text) if "-" in birth_text else dt.datetime.strptime(birth_text, "%d/%m/%Y").date() if birth_text[:2].isdigit() and "X" not in birth_text else None
        if born and start > born:
            residence_rows.append(_residence(next(residence_seq), dup["id"], rng.choice(valid_civici), "", start,
                                             dt.date.fromisoformat(first["dal"]), "IMMIGRAZIONE", "CAMBIO_ABITAZIONE", rng))
    person_rows.extend(duplicates)
    rng.shuffle(person_rows)

    for j in range(rate):  # members pointing at people that do not exist
        member_rows.append({"id_famiglia": rng.choice(household_rows)["id"], "id_persona": f"P9{j + 1:06d}",
                            "relazione": "3", "dal": "2010-01-01", "al": ""})
        defects.add("members", f"P9{j + 1:06d}", "orphan_member")
    for j in range(max(1, rate // 4)):  # members of a household that does not exist
        member_rows.append({"id_famiglia": f"F9{j + 1:05d}", "id_persona": rng.choice(person_rows)["id"],
                            "relazione": "1", "dal": "2012-05-01", "al": "2013-01-01"})
        defects.add("members", f"F9{j + 1:05d}", "orphan_member")

    # Residence defects go to people without defects of their own, so each shows its own reason.
    flawed_people = {d["key"] for d in defects.items if d["entity"] == "people"}
    open_residences = [r for r in residence_rows if not r["al"] and r["id_persona"] not in flawed_people]
    rng.shuffle(open_residences)
    res_cursor = iter(open_residences)
    for _ in range(rate):  # residence at a civico that is not in the street register
        row = next(res_cursor)
        row["codice_civico"] = rng.choice(ghost_civici) if rng.random() < 0.5 else f"Z{rng.randrange(10**5):05d}"
        defects.add("residences", row["id"], "address_not_in_register")
    for _ in range(rate):  # closed before it opened
        row = next(res_cursor)
        start = dt.date.fromisoformat(row["dal"])
        row["al"], row["evento_chiusura"] = (start - dt.timedelta(days=rng.randrange(1, 900))).isoformat(), "EMIGRAZIONE"
        defects.add("residences", row["id"], "dates_out_of_order")
    overlaps = 0
    touched = {d["key"] for d in defects.items}
    for row in residence_rows:  # an earlier residence whose end runs past the start of the next one
        if overlaps >= rate:
            break
        if not row["al"] or row["evento_chiusura"] != "CAMBIO_ABITAZIONE" or row["id_persona"] in touched \
                or row["id_persona"] not in by_person:
            continue
        nxt = next((r for r in residences_of[row["id_persona"]] if r["dal"] == row["al"]), None)
        if nxt is None or nxt["id"] in touched or nxt["al"]:
            continue
        row["al"] = (dt.date.fromisoformat(row["al"]) + dt.timedelta(days=rng.randrange(10, 200))).isoformat()
        defects.add("residences", row["id"], "overlap_trimmed")
        touched.add(row["id_persona"])
        overlaps += 1

    acts, annotations = _acts(rng, person_rows, today, defects)
    _write(out, "streets", streets)
    _write(out, "house_numbers", civici)
    _write(out, "people", person_rows)
    _write(out, "households", household_rows)
    _write(out, "members", member_rows)
    _write(out, "residences", residence_rows)
    _write(out, "acts", acts)
    _write(out, "annotations", annotations)
    summary = {"seed": seed, "counts": {"streets": len(streets), "house_numbers": len(civici), "people": len(person_rows),
                                        "households": len(household_rows), "members": len(member_rows),
                                        "residences": len(residence_rows), "acts": len(acts),
                                        "annotations": len(annotations)},
               "defects": defects.items}
    (out / "difetti.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    return summary


def _residence(seq: int, pid: str, civico: str, hid: str, start: dt.date, end: dt.date | None, opening: str,
               closing: str, rng: random.Random) -> dict:
    return {"id": f"R{seq:07d}", "id_persona": pid, "codice_civico": civico, "id_famiglia": hid,
            "scala_interno": rng.choice(("", "", "", "int. 1", "scala A int. 3")), "dal": start.isoformat(),
            "al": end.isoformat() if end else "", "evento_apertura": opening, "evento_chiusura": closing,
            "rif_anpr": f"{rng.randrange(10**11, 10**12)}" if start.year >= 2018 else ""}


def _acts(rng: random.Random, people: list[dict], today: dt.date, defects: Defects | None = None
          ) -> tuple[list[dict], list[dict]]:
    """Thirty years of civil-status acts (births of people born here, marriages), with the defects
    of real registers (see _act_defects)."""
    acts, annotations = [], []
    numbers: dict[tuple[int, str], int] = {}
    for row in people:
        text = row["data_nascita"]
        born = None
        if "-" in text:
            born = dt.date.fromisoformat(text)
        elif text[:2].isdigit() and "X" not in text:
            born = dt.datetime.strptime(text, "%d/%m/%Y").date()
        if born is None or born.year < today.year - 30 or row["comune_nascita_istat"] != "046007":
            continue
        key = (born.year, "1")
        numbers[key] = numbers.get(key, 0) + 1
        acts.append({"id": f"A{len(acts) + 1:07d}", "tipo": "NASCITA", "anno": str(born.year), "parte": "1",
                     "serie": "A", "numero": str(numbers[key]), "ufficio": "Capannori", "ufficiale": "Ufficiale dello stato civile",
                     "data": (born + dt.timedelta(days=rng.randrange(1, 10))).isoformat(), "id_persone": row["id"],
                     "dati": json.dumps({"ora": f"{rng.randrange(24):02d}:{rng.randrange(60):02d}"}), "testo": ""})
    for year in range(today.year - 30, today.year):
        for n in range(rng.randrange(10, 30)):
            pair = rng.sample(people, 2)
            acts.append({"id": f"A{len(acts) + 1:07d}", "tipo": "MATRIMONIO", "anno": str(year), "parte": "1",
                         "serie": "A", "numero": str(n + 1), "ufficio": "Capannori", "ufficiale": "Sindaco",
                         "data": f"{year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}",
                         "id_persone": "|".join(p["id"] for p in pair), "dati": "{}", "testo": ""})
            if rng.random() < 0.1:
                annotations.append({"id": f"N{len(annotations) + 1:06d}", "id_atto": acts[-1]["id"], "tipo": "DIVORZIO",
                                    "data": f"{min(year + 5, today.year)}-06-01", "autorita": "Tribunale di Lucca",
                                    "riferimento_atto": "", "testo": ""})
    if defects is not None:
        _act_defects(rng, acts, annotations, defects)
    return acts, annotations


def _act_defects(rng: random.Random, acts: list[dict], annotations: list[dict], defects: Defects) -> None:
    """A few of each: unknown act type, number used twice in a register, unreadable date or data,
    a party that is not in the register, annotations of a missing act or dated before their act."""
    marriages = [a for a in acts if a["tipo"] == "MATRIMONIO"]
    if len(marriages) < 12:
        return
    rate = max(2, len(acts) // 200)
    picks = rng.sample(marriages, min(len(marriages), 4 * rate))
    for row in picks[:rate]:  # somebody not in the people file
        row["id_persone"] = row["id_persone"].split("|")[0] + "|P9999999"
        defects.add("acts", row["id"], "act_person_unknown")
    for row in picks[rate:2 * rate]:  # the structured data is not JSON
        row["dati"] = "{ora: 10"
        defects.add("acts", row["id"], "act_data_unreadable")
    for row in picks[2 * rate:3 * rate]:  # an impossible date
        row["data"] = "31/02/" + row["anno"]
        defects.add("acts", row["id"], "invalid_date")
    for row in picks[3 * rate:4 * rate]:
        row["tipo"] = "ADOZIONE"
        defects.add("acts", row["id"], "act_kind_unknown")
    touched = {r["id"] for r in picks}
    clean = [a for a in marriages if a["id"] not in touched]
    for original in clean[:rate]:  # the same number again in the same register
        copy = {**original, "id": f"A{len(acts) + 1:07d}"}
        acts.append(copy)
        defects.add("acts", copy["id"], "duplicate_act_number")
    for n in range(rate):
        nid = f"N{len(annotations) + 1:06d}"
        annotations.append({"id": nid, "id_atto": f"A{9_000_000 + n}", "tipo": "SEPARAZIONE", "data": "2010-01-01",
                            "autorita": "Tribunale di Lucca", "riferimento_atto": "", "testo": ""})
        defects.add("annotations", nid, "orphan_annotation")
    for original in clean[rate:2 * rate]:
        nid = f"N{len(annotations) + 1:06d}"
        annotations.append({"id": nid, "id_atto": original["id"], "tipo": "SEPARAZIONE",
                            "data": f"{int(original['anno']) - 1}-01-01", "autorita": "Tribunale di Lucca",
                            "riferimento_atto": "", "testo": ""})
        defects.add("annotations", nid, "dates_out_of_order")


def _write(out: Path, entity: str, rows: list[dict]) -> None:
    name, columns = FILES[entity]
    with open(out / name, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

