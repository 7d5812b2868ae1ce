// Timers: ISO 8601 values (durations, dates, repeating intervals) and a readable Italian preview.
// In Procedo's models a timer's body is a Python expression evaluated by the engine: an ISO value is
// written as a string literal ("P7D"); anything else (end_of_day(term_end(received_on, 45))) is an
// expression computed during the case.

const UNITS = [
  ["years", "anno", "anni"],
  ["months", "mese", "mesi"],
  ["weeks", "settimana", "settimane"],
  ["days", "giorno", "giorni"],
  ["hours", "ora", "ore"],
  ["minutes", "minuto", "minuti"],
  ["seconds", "secondo", "secondi"],
];
const MONTHS = ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
  "settembre", "ottobre", "novembre", "dicembre"];
const DURATION = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

export function parseDuration(text) {
  const match = DURATION.exec((text || "").trim().toUpperCase());
  if (!match) { return null; }
  const parts = {};
  UNITS.forEach(([key], index) => {
    if (match[index + 1] !== undefined) { parts[key] = Number(match[index + 1].replace(",", ".")); }
  });
  return parts;
}

function joinItalian(items) {
  if (items.length <= 1) { return items.join(""); }
  return `${items.slice(0, -1).join(", ")} e ${items[items.length - 1]}`;
}

export function describeDuration(parts, { every = false } = {}) {
  const items = UNITS.filter(([key]) => parts[key] !== undefined && parts[key] !== 0)
    .map(([key, one, many]) => (parts[key] === 1 ? (every ? one : `1 ${one}`) : `${String(parts[key]).replace(".", ",")} ${many}`));
  if (!items.length) { return every ? "continuamente" : "subito (durata zero)"; }
  if (every && items.length > 1) {
    // "ogni 1 giorno e 2 ore" reads better with the numbers spelled out.
    return `ogni ${joinItalian(UNITS.filter(([key]) => parts[key]).map(([key, one, many]) => `${parts[key]} ${parts[key] === 1 ? one : many}`))}`;
  }
  return every ? `ogni ${items[0]}` : joinItalian(items);
}

export function parseDate(text) {
  const match = DATE.exec((text || "").trim());
  if (!match) { return null; }
  const [, year, month, day, hour, minute, , zone] = match;
  const monthIndex = Number(month) - 1;
  if (monthIndex < 0 || monthIndex > 11 || Number(day) < 1 || Number(day) > 31) { return null; }
  return { year: Number(year), month: monthIndex, day: Number(day), hour, minute, zone };
}

export function describeDate(parsed) {
  const day = parsed.day === 1 ? "1º" : String(parsed.day);
  let text = `il ${day} ${MONTHS[parsed.month]} ${parsed.year}`;
  if (parsed.hour !== undefined) {
    text += ` alle ${parsed.hour}:${parsed.minute}`;
    if (parsed.zone === "Z") { text += " (UTC)"; } else if (parsed.zone) { text += ` (fuso ${parsed.zone})`; }
  }
  return text;
}

export function describeCycle(text) {
  const pieces = (text || "").trim().toUpperCase().split("/");
  if (pieces.length < 2 || !/^R\d*$/.test(pieces[0])) { return null; }
  const times = pieces[0].length > 1 ? Number(pieces[0].slice(1)) : null;
  let start = null;
  let duration = null;
  for (const piece of pieces.slice(1)) {
    if (piece.startsWith("P")) { duration = parseDuration(piece); if (!duration) { return null; } }
    else { start = parseDate(piece); if (!start) { return null; } }
  }
  if (!duration) { return null; }
  let description = describeDuration(duration, { every: true });
  if (times !== null) { description += times === 1 ? ", una volta" : `, ${times} volte`; }
  if (start) { description += `, a partire dal ${describeDate(start).replace(/^il /, "")}`; }
  return description;
}

// An ISO literal written as a Python string: "P7D" or 'P7D'. Returns the inner text or null.
export function unquote(body) {
  const match = /^\s*(["'])([^"'\\]*)\1\s*$/.exec(body || "");
  return match ? match[2] : null;
}

export function looksIso(text) {
  const value = (text || "").trim();
  return DURATION.test(value.toUpperCase()) || DATE.test(value) || /^R\d*\//i.test(value);
}

// kind: "timeDate" | "timeDuration" | "timeCycle"; body: the stored expression.
// Returns {iso: boolean, ok: boolean, text: string} for the panel's description.
export function timerPreview(kind, body) {
  const literal = unquote(body);
  if (literal === null) {
    if (!(body || "").trim()) { return { iso: false, ok: false, text: "Nessun valore: il timer non scatterebbe mai." }; }
    return { iso: false, ok: true, text: "Espressione calcolata durante la pratica." };
  }
  if (kind === "timeDuration") {
    const parts = parseDuration(literal);
    return parts ? { iso: true, ok: true, text: `Dopo ${describeDuration(parts)}` }
      : { iso: true, ok: false, text: "Durata ISO 8601 non valida (esempi: P3D = 3 giorni, PT2H = 2 ore)." };
  }
  if (kind === "timeCycle") {
    const cycle = describeCycle(literal);
    return cycle ? { iso: true, ok: true, text: cycle.charAt(0).toUpperCase() + cycle.slice(1) }
      : { iso: true, ok: false, text: "Ciclo ISO 8601 non valido (esempio: R/PT2H = ogni 2 ore)." };
  }
  const date = parseDate(literal);
  return date ? { iso: true, ok: true, text: describeDate(date).replace(/^il/, "Il") }
    : { iso: true, ok: false, text: "Data ISO 8601 non valida (esempio: 2026-12-31T09:00)." };
}
