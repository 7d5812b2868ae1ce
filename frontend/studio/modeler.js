// The process studio's modeler page (templates/studio/editor.html): bpmn-js Modeler + properties
// panel with Procedo's own moddle descriptor and provider, a keyboard-usable toolbar (save, validate,
// undo, redo, zoom), the problems list and the problems drawn on the diagram.
//
// Mount element: <div id="studio-modeler" data-draft data-path data-file-url data-save-url
// data-validate-url data-palette-url data-expression-url data-forms-url data-form-preview-url>.

import BpmnModeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";

import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import "./modeler.css";

import spiffworkflow from "./spiffworkflow.json";
import translateModule from "./lib/i18n-it";
import trackedDebounceModule from "./lib/debounce";
import { ApiError, getJSON, getText, postJSON } from "./lib/api";
import { readMilestones, writeMilestones } from "./lib/manifest";
import ProcedoPropertiesProvider from "./provider/index";
import { setupToolbar } from "./toolbar";

const EMPTY_PALETTE = { roles: [], forms: [], operations: [], tasks: [], messages: [], milestones: {}, helpers: [] };

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([key, value]) => {
    if (value === undefined || value === null) { return; }
    if (key === "class") { node.className = value; } else if (key === "text") { node.textContent = value; } else { node.setAttribute(key, value); }
  });
  (children || []).forEach((child) => node.append(child));
  return node;
}

class Studio {
  constructor(root) {
    this.root = root;
    this.data = root.dataset;
    this.path = this.data.path;
    this.status = root.querySelector("[data-studio-status]");
    this.problemsList = root.querySelector("[data-studio-problems]");
    this.problemsSummary = root.querySelector("[data-studio-problems-summary]");
    this.dirty = false;
    this.problems = [];
    this.marked = [];
    this.ctx = this.makeContext();
  }

  makeContext() {
    const studio = this;
    const ctx = {
      palette: { ...EMPTY_PALETTE },
      milestones: {},
      milestonesEditable: true,
      milestonesDirty: false,
      setMilestone(id, label) {
        const value = (label || "").trim();
        if ((ctx.milestones[id] || "") === value) { return; }
        if (value) { ctx.milestones[id] = value; } else { delete ctx.milestones[id]; }
        ctx.milestonesDirty = true;
        studio.setDirty(true);
      },
      checkExpression(expression, kind, signal) {
        if (!studio.data.expressionUrl) { return Promise.reject(new ApiError("indirizzo di verifica assente")); }
        return postJSON(studio.data.expressionUrl, { expression, kind }, { signal });
      },
      formEditorUrl(path) {
        const url = new URL(studio.data.formsUrl || "", window.location.href);
        url.searchParams.set("path", path);
        return url.pathname + url.search + url.hash;
      },
      async createForm(name, title) {
        const schemaPath = `forms/${name}.schema.json`;
        if ((ctx.palette.forms || []).some((form) => form.path === schemaPath || form.path === `${name}.schema.json`)) {
          throw new Error(`Esiste già un modulo ${schemaPath}: sceglilo dall'elenco.`);
        }
        const schema = { $schema: "https://json-schema.org/draft/2020-12/schema", title, type: "object", additionalProperties: false, required: [], properties: {} };
        await postJSON(studio.data.saveUrl, { path: schemaPath, content: `${JSON.stringify(schema, null, 2)}\n` });
        await postJSON(studio.data.saveUrl, { path: `forms/${name}.uischema.json`, content: `${JSON.stringify({ "ui:order": [] }, null, 2)}\n` });
        ctx.palette.forms = [...(ctx.palette.forms || []), { path: schemaPath, title }];
        return `${name}.schema.json`;
      },
    };
    return ctx;
  }

  say(message, kind) {
    if (!this.status) { return; }
    this.status.textContent = message;
    this.status.dataset.kind = kind || "info";
  }

  setDirty(dirty) {
    this.dirty = dirty;
    this.root.classList.toggle("is-dirty", dirty);
    const marker = this.root.querySelector("[data-studio-dirty]");
    if (marker) { marker.hidden = !dirty; }
  }

  async start() {
    this.modeler = new BpmnModeler({
      container: this.root.querySelector("[data-studio-canvas]"),
      propertiesPanel: { parent: this.root.querySelector("[data-studio-properties]") },
      additionalModules: [
        BpmnPropertiesPanelModule,
        BpmnPropertiesProviderModule,
        translateModule,
        trackedDebounceModule,
        { __init__: ["procedoPropertiesProvider"], procedoPropertiesProvider: ["type", ProcedoPropertiesProvider], procedoContext: ["value", this.ctx] },
      ],
      moddleExtensions: { spiffworkflow },
    });
    this.modeler.on("commandStack.changed", () => this.setDirty(true));
    // An edit typed in the panel lands after its debounce delay, on the element it was typed for; if
    // another element was selected meanwhile, the panel would follow the edited one and show it
    // while the canvas selects the other. Show the selection again.
    this.modeler.on("elements.changed", 100, (event) => {
      const selected = this.modeler.get("selection").get();
      if (selected.length === 1 && !event.elements.includes(selected[0])) {
        this.modeler.get("eventBus").fire("selection.changed", { oldSelection: selected, newSelection: selected });
      }
    });
    setupToolbar(this);
    window.addEventListener("beforeunload", (event) => {
      if (this.dirty) { event.preventDefault(); event.returnValue = ""; }
    });
    this.say("Caricamento del modello…");
    try {
      const [xml, palette, manifest] = await Promise.all([
        getText(this.data.fileUrl, { path: this.path }),
        this.data.paletteUrl ? getJSON(this.data.paletteUrl).catch(() => null) : null,
        getText(this.data.fileUrl, { path: "manifest.yaml" }).catch(() => null),
      ]);
      this.ctx.palette = { ...EMPTY_PALETTE, ...(palette || {}) };
      if (manifest !== null) {
        const read = readMilestones(manifest);
        this.ctx.milestones = read.milestones;
        this.ctx.milestonesEditable = read.editable;
      } else {
        this.ctx.milestones = { ...(this.ctx.palette.milestones || {}) };
      }
      const result = await this.modeler.importXML(xml);
      this.modeler.get("canvas").zoom("fit-viewport", "auto");
      this.setDirty(false);
      const warnings = (result.warnings || []).length;
      this.say(warnings ? `Modello caricato con ${warnings} avvisi di lettura.` : "Modello caricato.", warnings ? "warning" : "ok");
      if (!palette) { this.say("Modello caricato, ma l'elenco di ruoli, moduli e operazioni non è disponibile.", "warning"); }
      this.root.dataset.ready = "true";
      this.root.dispatchEvent(new CustomEvent("studio:ready"));
    } catch (error) {
      this.say(`Impossibile caricare il modello: ${error.message}`, "error");
      this.root.dataset.ready = "error";
    }
  }

  async save() {
    if (this.saving) { return; }
    this.saving = true;
    this.say("Salvataggio in corso…");
    try {
      this.modeler.get("debounceInput").flushAll();
      const { xml } = await this.modeler.saveXML({ format: true });
      let answer = await postJSON(this.data.saveUrl, { path: this.path, content: xml });
      if (this.ctx.milestonesDirty) {
        const manifest = await getText(this.data.fileUrl, { path: "manifest.yaml" }).catch(() => "");
        answer = await postJSON(this.data.saveUrl, { path: "manifest.yaml", content: writeMilestones(manifest, this.ctx.milestones) });
        this.ctx.milestonesDirty = false;
      }
      this.setDirty(false);
      this.showProblems((answer && answer.problems) || []);
      const count = this.problems.filter((problem) => problem.severity !== "warning").length;
      this.say(count ? `Salvato. Il modello ha ${count} errori da correggere prima della pubblicazione.` : "Salvato.", count ? "warning" : "ok");
      this.root.dispatchEvent(new CustomEvent("studio:saved"));
    } catch (error) {
      this.say(`Salvataggio non riuscito: ${error.message}`, "error");
    } finally {
      this.saving = false;
    }
  }

  async validate() {
    this.say("Verifica del modello in corso…");
    try {
      this.modeler.get("debounceInput").flushAll();
      if (this.dirty) { await this.save(); }
      const answer = await postJSON(this.data.validateUrl, {});
      this.showProblems((answer && answer.problems) || []);
      const errors = this.problems.filter((problem) => problem.severity !== "warning").length;
      const warnings = this.problems.length - errors;
      this.say(this.problems.length ? `Verifica completata: ${errors} errori, ${warnings} avvisi.` : "Verifica completata: nessun problema.",
        errors ? "error" : "ok");
      this.root.dispatchEvent(new CustomEvent("studio:validated"));
    } catch (error) {
      this.say(`Verifica non riuscita: ${error.message}`, "error");
    }
  }

  clearMarkers() {
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    this.marked.forEach((id) => {
      canvas.removeMarker(id, "procedo-problem-error");
      canvas.removeMarker(id, "procedo-problem-warning");
    });
    overlays.remove({ type: "procedo-problem" });
    this.marked = [];
  }

  isOurFile(problem) {
    return !problem.file || problem.file === this.path || problem.file.endsWith(`/${this.path}`);
  }

  showProblems(problems) {
    this.problems = Array.isArray(problems) ? problems : [];
    this.clearMarkers();
    const registry = this.modeler.get("elementRegistry");
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    const byElement = new Map();
    this.problems.forEach((problem) => {
      if (problem.element_id && this.isOurFile(problem) && registry.get(problem.element_id)) {
        const list = byElement.get(problem.element_id) || [];
        list.push(problem);
        byElement.set(problem.element_id, list);
      }
    });
    byElement.forEach((list, id) => {
      const error = list.some((problem) => problem.severity !== "warning");
      const kind = error ? "error" : "warning";
      canvas.addMarker(id, `procedo-problem-${kind}`);
      this.marked.push(id);
      const badge = el("span", { class: `procedo-problem-badge procedo-problem-badge-${kind}`, title: list.map((problem) => problem.message).join("\n") }, [
        el("span", { "aria-hidden": "true", text: error ? "✖" : "⚠" }),
        el("span", { class: "visually-hidden", text: `${error ? "Errore" : "Avviso"}: ${list.map((problem) => problem.message).join("; ")}` }),
      ]);
      overlays.add(id, "procedo-problem", { position: { top: -10, left: -10 }, html: badge });
    });
    this.renderProblemList(registry);
  }

  renderProblemList(registry) {
    if (!this.problemsList) { return; }
    this.problemsList.replaceChildren();
    if (!this.problems.length) {
      this.problemsSummary.textContent = "Nessun problema rilevato.";
      return;
    }
    const errors = this.problems.filter((problem) => problem.severity !== "warning").length;
    this.problemsSummary.textContent = `${errors} errori e ${this.problems.length - errors} avvisi.`;
    this.problems.forEach((problem) => {
      const warning = problem.severity === "warning";
      const item = el("li", { class: `procedo-problem procedo-problem-${warning ? "warning" : "error"}`, "data-code": problem.code || "" }, [
        el("span", { class: "procedo-problem-icon", "aria-hidden": "true", text: warning ? "⚠" : "✖" }),
        el("span", { class: "visually-hidden", text: warning ? "Avviso: " : "Errore: " }),
        el("span", { text: problem.message || problem.code || "" }),
      ]);
      const where = [problem.file, problem.element_id].filter(Boolean).join(" · ");
      if (where) { item.append(" ", el("span", { class: "procedo-problem-where", text: `(${where})` })); }
      const target = problem.element_id && this.isOurFile(problem) && registry.get(problem.element_id);
      if (target) {
        const name = (target.businessObject && target.businessObject.name) || problem.element_id;
        const button = el("button", { type: "button", class: "btn btn-link btn-sm procedo-problem-go", "data-element": problem.element_id, text: `Vai a «${name}»` });
        button.addEventListener("click", () => this.focusElement(problem.element_id));
        item.append(" ", button);
      }
      this.problemsList.append(item);
    });
  }

  focusElement(id) {
    const element = this.modeler.get("elementRegistry").get(id);
    if (!element) { return; }
    this.modeler.get("selection").select(element);
    this.modeler.get("canvas").scrollToElement(element, { top: 100, bottom: 100, left: 100, right: 100 });
    const panel = this.root.querySelector("[data-studio-properties]");
    if (panel) { panel.focus(); }
  }
}

function boot() {
  const root = document.getElementById("studio-modeler");
  if (!root) { return; }
  const studio = new Studio(root);
  window.procedoStudio = studio; // for the browser tests and the console
  studio.start();
}

if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", boot); } else { boot(); }
