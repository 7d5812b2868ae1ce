// The process studio's form editor (templates/studio/form_editor.html): JSON Schema, UI schema and
// sample data as three text panes checked as you type, a palette of Italian widgets that inserts
// schema + UI snippets, and a live preview rendered by the server with the product's own form
// renderer (POST anteprima-modulo/), the same one operators and citizens see.
//
// Mount element: <div id="studio-form-editor" data-path="forms/x.schema.json" data-file-url
// data-save-url data-form-preview-url>.

import "./form-editor.css";
import { getText, postJSON } from "./lib/api";
import { jsonErrorOffset } from "./lib/jsonpos";

const WAIT_MS = 500;
const NAME = /^[a-z][a-z0-9_]{0,62}$/;

// The widgets of the palette: what each inserts into the schema and the UI schema.
export const WIDGETS = {
  text: { label: "Testo", schema: (title) => ({ title, type: "string", maxLength: 200 }) },
  date: { label: "Data (GG/MM/AAAA)", schema: (title) => ({ title, type: "string", format: "date" }) },
  fiscal_code: {
    label: "Codice fiscale",
    suffix: "fiscal_code",
    schema: (title) => ({ title, type: "string", pattern: "^[A-Z0-9]{16}$", minLength: 16, maxLength: 16 }),
    ui: { "ui:help": "16 caratteri: il carattere di controllo è verificato." },
  },
  municipality: {
    label: "Comune (elenco ANPR)",
    schema: (title) => ({ title, type: "string", format: "municipality" }),
    ui: { "ui:help": "Scrivi il nome del comune, la sigla della provincia o il codice ISTAT." },
  },
  file: {
    label: "File (PDF o immagine)",
    schema: (title) => ({
      title, type: "object", format: "file", "x-accept": ["pdf", "jpeg", "png"], "x-max-bytes": 10485760,
      required: ["document_id"],
      properties: {
        document_id: { type: "integer" }, name: { type: "string" }, media_type: { type: "string" },
        size: { type: "integer" }, sha256: { type: "string" },
      },
    }),
  },
  email: { label: "Email", schema: (title) => ({ title, type: "string", format: "email", maxLength: 254 }) },
  select: {
    label: "Scelta da un elenco",
    choices: true,
    schema: (title, choices) => ({ title, type: "string", enum: choices.map((choice) => choice.value) }),
    ui: (choices) => ({ "ui:widget": "select", "ui:enumNames": choices.map((choice) => choice.label) }),
  },
  textarea: { label: "Testo lungo", schema: (title) => ({ title, type: "string", maxLength: 4000 }), ui: { "ui:widget": "textarea" } },
  checkbox: { label: "Casella di spunta (sì/no)", schema: (title) => ({ title, type: "boolean" }) },
};

function slug(text) {
  return (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
    .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").replace(/^(\d)/, "f_$1").slice(0, 60);
}

// JSON.parse with an Italian message naming line and column.
export function parseJSON(text, { required = true } = {}) {
  if (!text.trim()) {
    return required ? { error: "Il testo è vuoto: serve un oggetto JSON, per esempio {}." } : { value: {} };
  }
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) { return { error: "Serve un oggetto JSON: { … }." }; }
    return { value };
  } catch (error) {
    const offset = jsonErrorOffset(text);
    if (offset >= 0) {
      const before = text.slice(0, offset);
      const line = before.split("\n").length;
      const column = offset - before.lastIndexOf("\n");
      return { error: `JSON non valido alla riga ${line}, colonna ${column}.` };
    }
    return { error: "JSON non valido." };
  }
}

function schemaProblems(schema) {
  const problems = [];
  if (schema.type !== "object") { problems.push("Il modulo deve avere \"type\": \"object\"."); }
  if (schema.properties !== undefined && (typeof schema.properties !== "object" || Array.isArray(schema.properties))) {
    problems.push("\"properties\" deve essere un oggetto.");
  }
  (schema.required || []).forEach((name) => {
    if (!schema.properties || !schema.properties[name]) { problems.push(`"${name}" è obbligatorio ma non è tra i campi.`); }
  });
  return problems;
}

class FormEditor {
  constructor(root) {
    this.root = root;
    this.data = root.dataset;
    this.schemaPath = this.data.path;
    this.uiPath = this.schemaPath.replace(/\.schema\.json$/, ".uischema.json");
    this.panes = {
      schema: root.querySelector("[data-pane=schema]"),
      ui: root.querySelector("[data-pane=ui]"),
      data: root.querySelector("[data-pane=data]"),
    };
    this.preview = root.querySelector("[data-form-preview]");
    this.previewErrors = root.querySelector("[data-form-preview-errors]");
    this.status = root.querySelector("[data-form-status]");
    this.dirty = false;
  }

  say(message, kind) {
    this.status.textContent = message;
    this.status.dataset.kind = kind || "info";
  }

  async start() {
    try {
      const [schema, ui] = await Promise.all([
        getText(this.data.fileUrl, { path: this.schemaPath }),
        getText(this.data.fileUrl, { path: this.uiPath }).catch(() => "{}\n"),
      ]);
      this.panes.schema.value = schema;
      this.panes.ui.value = ui;
      if (!this.panes.data.value.trim()) { this.panes.data.value = "{}\n"; }
      this.say("Modulo caricato.", "ok");
    } catch (error) {
      this.say(`Impossibile caricare il modulo: ${error.message}`, "error");
      return;
    }
    Object.values(this.panes).forEach((pane) => pane.addEventListener("input", () => {
      if (pane !== this.panes.data) { this.dirty = true; }
      this.changed();
    }));
    this.root.querySelector("[data-form-save]").addEventListener("click", () => this.save());
    this.setupPalette();
    window.addEventListener("beforeunload", (event) => { if (this.dirty) { event.preventDefault(); event.returnValue = ""; } });
    this.root.querySelectorAll("button[disabled]").forEach((button) => { button.disabled = false; });
    this.changed();
    this.root.dataset.ready = "true";
  }

  check(name, options) {
    const pane = this.panes[name];
    const message = this.root.querySelector(`[data-pane-message=${name}]`);
    const result = parseJSON(pane.value, options);
    let problems = result.error ? [result.error] : [];
    if (!result.error && name === "schema") { problems = schemaProblems(result.value); }
    pane.setAttribute("aria-invalid", String(problems.length > 0));
    message.textContent = problems.length ? problems.join(" ") : "JSON valido.";
    message.dataset.kind = problems.length ? "error" : "ok";
    return problems.length ? null : result.value;
  }

  changed() {
    const schema = this.check("schema");
    const ui = this.check("ui", { required: false });
    const data = this.check("data", { required: false });
    clearTimeout(this.timer);
    if (!schema || !ui || !data) {
      this.previewErrors.textContent = "Anteprima sospesa finché i tre riquadri non contengono JSON valido.";
      return;
    }
    this.timer = setTimeout(() => this.renderPreview(schema, ui, data), WAIT_MS);
  }

  async renderPreview(schema, ui, data) {
    if (this.controller) { this.controller.abort(); }
    this.controller = new AbortController();
    this.previewErrors.textContent = "Aggiornamento dell'anteprima…";
    try {
      const answer = await postJSON(this.data.formPreviewUrl, { schema, ui_schema: ui, data }, { signal: this.controller.signal });
      // The HTML comes from the product's own server-side renderer (escaped there); the page's
      // Content-Security-Policy runs no script or inline handler in it.
      this.preview.innerHTML = answer.html || "";
      this.preview.querySelectorAll("form").forEach((form) => form.addEventListener("submit", (event) => event.preventDefault()));
      const errors = answer.errors || [];
      this.previewErrors.replaceChildren();
      if (!errors.length) {
        this.previewErrors.textContent = "Anteprima aggiornata: i dati di esempio sono validi.";
      } else {
        const list = document.createElement("ul");
        errors.forEach((error) => {
          const item = document.createElement("li");
          item.textContent = typeof error === "string" ? error : [error.field, error.message].filter(Boolean).join(": ");
          list.append(item);
        });
        this.previewErrors.append("Problemi dei dati di esempio:", list);
      }
    } catch (error) {
      if (error.name !== "AbortError") { this.previewErrors.textContent = `Anteprima non disponibile: ${error.message}`; }
    }
  }

  async save() {
    const schema = this.check("schema");
    const ui = this.check("ui", { required: false });
    if (!schema || !ui) {
      this.say("Non salvato: correggi prima il JSON segnalato.", "error");
      return;
    }
    this.say("Salvataggio in corso…");
    try {
      await postJSON(this.data.saveUrl, { path: this.schemaPath, content: `${JSON.stringify(schema, null, 2)}\n` });
      const answer = await postJSON(this.data.saveUrl, { path: this.uiPath, content: `${JSON.stringify(ui, null, 2)}\n` });
      this.dirty = false;
      const problems = (answer && answer.problems || []).filter((problem) => !problem.file || problem.file === this.schemaPath || problem.file === this.uiPath);
      this.say(problems.length ? `Salvato, con ${problems.length} problemi: ${problems.map((problem) => problem.message).join(" ")}` : "Salvato.",
        problems.length ? "warning" : "ok");
    } catch (error) {
      this.say(`Salvataggio non riuscito: ${error.message}`, "error");
    }
  }

  setupPalette() {
    const form = this.root.querySelector("[data-widget-form]");
    const kind = form.querySelector("[name=widget]");
    const choices = form.querySelector("[data-widget-choices]");
    const note = form.querySelector("[data-widget-note]");
    const toggle = () => { choices.hidden = !WIDGETS[kind.value] || !WIDGETS[kind.value].choices; };
    kind.addEventListener("change", toggle);
    toggle();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      try {
        const name = this.insert({
          widget: kind.value,
          title: form.querySelector("[name=title]").value.trim(),
          name: form.querySelector("[name=name]").value.trim(),
          required: form.querySelector("[name=required]").checked,
          choices: form.querySelector("[name=choices]").value,
        });
        note.textContent = `Campo «${name}» inserito nello schema e nello schema di presentazione.`;
        note.dataset.kind = "ok";
        form.querySelector("[name=title]").value = "";
        form.querySelector("[name=name]").value = "";
      } catch (error) {
        note.textContent = error.message;
        note.dataset.kind = "error";
      }
    });
  }

  // Adds a field to the schema and the UI schema panes; returns its name.
  insert({ widget, title, name, required, choices }) {
    const spec = WIDGETS[widget];
    if (!spec) { throw new Error("Scegli il tipo di campo."); }
    if (!title) { throw new Error("Scrivi l'etichetta del campo."); }
    const schema = parseJSON(this.panes.schema.value).value;
    const ui = parseJSON(this.panes.ui.value, { required: false }).value;
    if (!schema || !ui) { throw new Error("Correggi prima il JSON dello schema e dello schema di presentazione."); }
    let key = name || slug(title);
    if (spec.suffix && !key.endsWith(spec.suffix)) { key = key ? `${key}_${spec.suffix}` : spec.suffix; }
    if (!NAME.test(key)) { throw new Error("Nome del campo non valido: lettere minuscole, cifre e _, iniziando con una lettera."); }
    schema.properties = schema.properties || {};
    if (schema.properties[key]) { throw new Error(`Esiste già un campo «${key}».`); }
    let options = [];
    if (spec.choices) {
      options = choices.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
        const [value, label] = line.includes("=") ? line.split("=", 2).map((part) => part.trim()) : [slug(line), line];
        return { value: value || slug(label), label: label || value };
      });
      if (!options.length) { throw new Error("Scrivi le voci dell'elenco, una per riga (valore = etichetta, oppure solo l'etichetta)."); }
    }
    schema.properties[key] = spec.schema(title, options);
    if (required) { schema.required = [...new Set([...(schema.required || []), key])]; }
    const uiSnippet = typeof spec.ui === "function" ? spec.ui(options) : spec.ui;
    if (uiSnippet) { ui[key] = { ...(ui[key] || {}), ...uiSnippet }; }
    if (Array.isArray(ui["ui:order"])) { ui["ui:order"] = [...ui["ui:order"].filter((item) => item !== key), key]; }
    this.panes.schema.value = `${JSON.stringify(schema, null, 2)}\n`;
    this.panes.ui.value = `${JSON.stringify(ui, null, 2)}\n`;
    this.dirty = true;
    this.changed();
    return key;
  }
}

function boot() {
  const root = document.getElementById("studio-form-editor");
  if (!root) { return; }
  const editor = new FormEditor(root);
  window.procedoFormEditor = editor;
  editor.start();
}

if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", boot); } else { boot(); }
