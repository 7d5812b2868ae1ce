// The public milestones (what a citizen's timeline shows: BPMN element id -> label) live in the
// bundle's manifest.yaml under `public_milestones:`, where the engine reads them. The studio edits
// that one block as text, line by line, so the rest of the file (comments, order, quoting) stays as
// the author wrote it. A block written in YAML flow style ({a: b}) is not edited: the caller says so.

const HEADER = /^public_milestones:[ \t]*(\{\s*\})?[ \t]*(#.*)?$/;
const ENTRY = /^([ \t]+)("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[A-Za-z_][\w.-]*)[ \t]*:[ \t]*(.*)$/;
const RESERVED = /^(null|true|false|yes|no|on|off|y|n|~)$/i;

function scalar(raw) {
  const text = raw.trim();
  if (text.startsWith('"')) {
    const end = text.lastIndexOf('"');
    try { return JSON.parse(text.slice(0, end + 1)); } catch (_) { return text.slice(1, end); }
  }
  if (text.startsWith("'")) {
    const end = text.lastIndexOf("'");
    return text.slice(1, end).replace(/''/g, "'");
  }
  return text.replace(/[ \t]+#.*$/, "");
}

function key(id) {
  return /^[A-Za-z_][\w-]*$/.test(id) && !RESERVED.test(id) ? id : JSON.stringify(id);
}

function block(lines) {
  const start = lines.findIndex((line) => /^public_milestones:/.test(line));
  if (start < 0) { return { start: -1 }; }
  if (!HEADER.test(lines[start])) { return { start, flow: true }; }
  let end = start + 1;
  while (end < lines.length && (lines[end].trim() === "" || /^[ \t]/.test(lines[end]))) { end += 1; }
  // Trailing blank lines belong to whatever follows.
  while (end > start + 1 && lines[end - 1].trim() === "") { end -= 1; }
  return { start, end };
}

// -> {milestones: {id: label}, editable: true} or {milestones: {}, editable: false} (flow style).
export function readMilestones(text) {
  const lines = (text || "").split("\n");
  const where = block(lines);
  if (where.flow) { return { milestones: {}, editable: false }; }
  const milestones = {};
  if (where.start >= 0) {
    for (const line of lines.slice(where.start + 1, where.end)) {
      const match = ENTRY.exec(line);
      if (match && !line.trim().startsWith("#")) { milestones[scalar(match[2])] = scalar(match[3]); }
    }
  }
  return { milestones, editable: true };
}

// The manifest text with its public_milestones block set to `milestones` (other lines untouched).
export function writeMilestones(text, milestones) {
  const lines = (text || "").split("\n");
  const where = block(lines);
  if (where.flow) { throw new Error("flow_style"); }
  const wanted = Object.entries(milestones).filter(([id, label]) => id && (label || "").trim());
  const entry = (indent, id, label) => `${indent}${key(id)}: ${JSON.stringify(label.trim())}`;
  if (where.start < 0) {
    if (!wanted.length) { return text; }
    const tail = lines.length && lines[lines.length - 1] === "" ? lines.slice(0, -1) : lines;
    return [...tail, "# What the citizen sees of the case (BPMN element id -> label).", "public_milestones:",
      ...wanted.map(([id, label]) => entry("  ", id, label)), ""].join("\n");
  }
  const body = lines.slice(where.start + 1, where.end);
  const firstEntry = body.map((line) => ENTRY.exec(line)).find((match) => match && !match[0].trim().startsWith("#"));
  const indent = firstEntry ? firstEntry[1] : "  ";
  const pending = new Map(wanted);
  const kept = [];
  for (const line of body) {
    const match = ENTRY.exec(line);
    if (!match || line.trim().startsWith("#")) { kept.push(line); continue; }
    const id = scalar(match[2]);
    if (!pending.has(id)) { continue; }
    const label = pending.get(id);
    pending.delete(id);
    kept.push(scalar(match[3]) === label.trim() ? line : entry(match[1], id, label));
  }
  let last = kept.length;
  while (last > 0 && (kept[last - 1].trim() === "" || kept[last - 1].trim().startsWith("#"))) { last -= 1; }
  const added = [...pending].map(([id, label]) => entry(indent, id, label));
  const newBody = [...kept.slice(0, last), ...added, ...kept.slice(last)];
  const hasEntries = newBody.some((line) => ENTRY.test(line) && !line.trim().startsWith("#"));
  const header = hasEntries ? lines[where.start].replace(/:[ \t]*\{\s*\}/, ":") : "public_milestones: {}";
  return [...lines.slice(0, where.start), header, ...newBody, ...lines.slice(where.end)].join("\n");
}
