// Entries of the Procedo properties groups. Each is a Preact component of @bpmn-io/properties-panel
// reading and writing the attributes and spiffworkflow extension elements the engine reads.

import { h } from "@bpmn-io/properties-panel/preact";
import { useState } from "@bpmn-io/properties-panel/preact/hooks";
import { NumberFieldEntry, SelectEntry, TextAreaEntry, TextFieldEntry } from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

import {
  Change, bodyExtension, operator, operatorParameters, removeParameter, setBodyExtension,
  setOperator, setOperatorAttribute, setParameter, setSpiffProperties, setSpiffProperty, spiffProperty,
} from "../lib/extensions";
import { looksIso, timerPreview, unquote } from "../lib/timers";
import { statusLine, useExpressionCheck } from "./hooks";

const WORKING_DAYS = /^\s*add_working_days\(\s*received_on\s*,\s*(\d+)\s*\)\s*$/;

function useTools() {
  return {
    ctx: useService("procedoContext"),
    injector: useService("injector"),
    modeling: useService("modeling"),
    debounce: useService("debounceInput"),
  };
}

// --- lane -> role -------------------------------------------------------------------------------

export function RoleEntry({ element, id }) {
  const { ctx, modeling } = useTools();
  const bo = getBusinessObject(element);
  return h(SelectEntry, {
    element,
    id,
    label: "Ruolo",
    description: "I compiti nella corsia vanno agli utenti con questo ruolo (il nome della corsia è il codice del ruolo).",
    getValue: () => bo.name || "",
    setValue: (value) => modeling.updateProperties(element, { name: value || undefined }),
    getOptions: () => {
      const roles = ctx.palette.roles || [];
      const options = [{ value: "", label: "— scegli un ruolo —" },
        ...roles.map((role) => ({ value: role.id, label: `${role.label} (${role.id})` }))];
      if (bo.name && !roles.some((role) => role.id === bo.name)) {
        options.push({ value: bo.name, label: `${bo.name} (ruolo inesistente)` });
      }
      return options;
    },
  });
}

// --- user task ----------------------------------------------------------------------------------

function formName(path) {
  return String(path || "").replace(/^forms\//, "");
}

function uiFormFor(schema) {
  return /\.schema\.json$/.test(schema) ? schema.replace(/\.schema\.json$/, ".uischema.json") : undefined;
}

export function FormEntry({ element, id }) {
  const { ctx, injector } = useTools();
  const current = spiffProperty(element, "formJsonSchemaFilename") || "";
  const link = current
    ? h("a", { href: ctx.formEditorUrl(`forms/${current}`), target: "_blank", rel: "noopener" },
      `Apri ${current} nell'editor dei moduli (nuova scheda)`)
    : "Il modulo che l'operatore compila (forms/…).";
  return h(SelectEntry, {
    element,
    id,
    label: "Modulo",
    description: link,
    getValue: () => spiffProperty(element, "formJsonSchemaFilename") || "",
    setValue: (value) => {
      setSpiffProperties(element, injector, {
        formJsonSchemaFilename: value || undefined,
        formUiSchemaFilename: value ? uiFormFor(value) : undefined,
      });
    },
    getOptions: () => {
      const forms = (ctx.palette.forms || [])
        .filter((form) => /\.json$/.test(form.path) && !/\.uischema\.json$/.test(form.path))
        .map((form) => ({ value: formName(form.path), label: form.title ? `${form.title} (${formName(form.path)})` : formName(form.path) }));
      const options = [{ value: "", label: "— nessun modulo —" }, ...forms];
      const value = spiffProperty(element, "formJsonSchemaFilename");
      if (value && !forms.some((form) => form.value === value)) {
        options.push({ value, label: `${value} (non trovato)` });
      }
      return options;
    },
  });
}

export function UiFormEntry({ element, id }) {
  const { injector, debounce } = useTools();
  return h(TextFieldEntry, {
    element,
    id,
    label: "Schema di presentazione (UI)",
    description: "Di norma <nome>.uischema.json accanto al modulo.",
    debounce,
    getValue: () => spiffProperty(element, "formUiSchemaFilename") || "",
    setValue: (value) => setSpiffProperty(element, injector, "formUiSchemaFilename", value),
  });
}

export function NewFormEntry({ element, id }) {
  const { ctx, injector } = useTools();
  const [name, setName] = useState("");
  const [note, setNote] = useState(null);
  const inputId = `bio-properties-panel-${id}`;
  const create = async () => {
    const clean = name.trim().toLowerCase();
    if (!/^[a-z][a-z0-9_]{1,60}$/.test(clean)) {
      setNote({ error: true, text: "Nome non valido: lettere minuscole, cifre e _ (per esempio verifica_documenti)." });
      return;
    }
    setNote({ text: "Creazione del modulo…" });
    try {
      const schema = await ctx.createForm(clean, getBusinessObject(element).name || clean);
      setSpiffProperties(element, injector, { formJsonSchemaFilename: schema, formUiSchemaFilename: uiFormFor(schema) });
      setName("");
      setNote({ text: `Modulo forms/${schema} creato e collegato al compito.` });
    } catch (error) {
      setNote({ error: true, text: error.message });
    }
  };
  return h("div", { class: "bio-properties-panel-entry procedo-new-form", "data-entry-id": id }, [
    h("label", { for: inputId, class: "bio-properties-panel-label" }, "Nuovo modulo (nome del file)"),
    h("div", { class: "procedo-inline" }, [
      h("input", {
        id: inputId,
        type: "text",
        class: "bio-properties-panel-input",
        value: name,
        spellcheck: false,
        autocomplete: "off",
        "aria-describedby": `${inputId}-note`,
        onInput: (event) => setName(event.target.value),
        onKeyDown: (event) => { if (event.key === "Enter") { event.preventDefault(); create(); } },
      }),
      h("button", { type: "button", class: "procedo-panel-button", onClick: create }, "Crea modulo"),
    ]),
    h("div", { id: `${inputId}-note`, class: `bio-properties-panel-description${note && note.error ? " procedo-note-error" : ""}`, role: "status" },
      note ? note.text : "Crea forms/<nome>.schema.json e <nome>.uischema.json e li collega al compito."),
  ]);
}

export function DueDateEntry({ element, id }) {
  const { injector, debounce } = useTools();
  const value = spiffProperty(element, "dueDate") || "";
  const check = useExpressionCheck(value, "due_date");
  return h(TextFieldEntry, {
    element,
    id,
    label: "Scadenza (espressione)",
    description: statusLine(check, "Per esempio add_working_days(received_on, 2) o term_end(received_on, 30)."),
    debounce,
    getValue: () => spiffProperty(element, "dueDate") || "",
    setValue: (text) => setSpiffProperty(element, injector, "dueDate", text),
  });
}

export function WorkingDaysEntry({ element, id }) {
  const { injector, debounce } = useTools();
  return h(NumberFieldEntry, {
    element,
    id,
    label: "Aiuto: N giorni lavorativi dalla ricezione",
    description: "Scrive la scadenza add_working_days(received_on, N); vuoto se la scadenza è un'altra espressione.",
    debounce,
    min: 1,
    max: 3650,
    step: 1,
    getValue: () => {
      const match = WORKING_DAYS.exec(spiffProperty(element, "dueDate") || "");
      return match ? Number(match[1]) : undefined;
    },
    setValue: (days) => {
      const number = Number(days);
      if (days === undefined || days === "" || Number.isNaN(number)) {
        if (WORKING_DAYS.test(spiffProperty(element, "dueDate") || "")) { setSpiffProperty(element, injector, "dueDate", undefined); }
        return;
      }
      if (Number.isInteger(number) && number >= 1) {
        setSpiffProperty(element, injector, "dueDate", `add_working_days(received_on, ${number})`);
      }
    },
    validate: (days) => (days === undefined || days === "" || (Number.isInteger(Number(days)) && Number(days) >= 1)
      ? null : "Un numero intero di giorni, almeno 1."),
  });
}

export function PriorityEntry({ element, id }) {
  const { injector } = useTools();
  return h(SelectEntry, {
    element,
    id,
    label: "Priorità",
    getValue: () => spiffProperty(element, "priority") || "2",
    setValue: (value) => setSpiffProperty(element, injector, "priority", value),
    getOptions: () => [{ value: "1", label: "Alta" }, { value: "2", label: "Normale" }, { value: "3", label: "Bassa" }],
  });
}

// User tasks met walking the flows backwards from `element` (boundary events lead to their activity).
export function earlierUserTasks(element) {
  const start = getBusinessObject(element);
  const seen = new Set([start]);
  const queue = [start];
  const found = [];
  while (queue.length) {
    const node = queue.shift();
    const sources = (node.incoming || []).map((flow) => flow.sourceRef);
    if (node.attachedToRef) { sources.push(node.attachedToRef); }
    for (const source of sources) {
      if (!source || seen.has(source)) { continue; }
      seen.add(source);
      if (is(source, "bpmn:UserTask")) { found.push(source); }
      queue.push(source);
    }
  }
  return found;
}

export function FourEyesEntry({ element, id }) {
  const { injector } = useTools();
  return h(SelectEntry, {
    element,
    id,
    label: "Quattro occhi: non lo stesso operatore di",
    description: "Chi ha lavorato il compito scelto non può lavorare questo.",
    getValue: () => spiffProperty(element, "notSameUserAs") || "",
    setValue: (value) => setSpiffProperty(element, injector, "notSameUserAs", value),
    getOptions: () => {
      const tasks = earlierUserTasks(element);
      const options = [{ value: "", label: "— nessun vincolo —" },
        ...tasks.map((task) => ({ value: task.id, label: `${task.name || task.id} (${task.id})` }))];
      const value = spiffProperty(element, "notSameUserAs");
      if (value && !tasks.some((task) => task.id === value)) {
        options.push({ value, label: `${value} (non precede questo compito)` });
      }
      return options;
    },
  });
}

export function InstructionsEntry({ element, id }) {
  const { injector, debounce } = useTools();
  return h(TextAreaEntry, {
    element,
    id,
    label: "Istruzioni per l'operatore",
    debounce,
    rows: 4,
    getValue: () => bodyExtension(element, "spiffworkflow:InstructionsForEndUser") || "",
    setValue: (value) => setBodyExtension(element, injector, "spiffworkflow:InstructionsForEndUser", value),
  });
}

// --- service task -------------------------------------------------------------------------------

function declaredParams(ctx, name) {
  const found = (ctx.palette.operations || []).find((op) => op.name === name);
  return found ? found.params || [] : null;
}

export function OperationEntry({ element, id }) {
  const { ctx, injector } = useTools();
  return h(SelectEntry, {
    element,
    id,
    label: "Operazione",
    description: "Dal registro delle operazioni dei connettori; cambiarla riporta i parametri a quelli della nuova operazione.",
    getValue: () => (operator(element) ? operator(element).id || "" : ""),
    setValue: (value) => setOperator(element, injector, value, declaredParams(ctx, value) || []),
    getOptions: () => {
      const operations = ctx.palette.operations || [];
      const options = [{ value: "", label: "— scegli un'operazione —" },
        ...operations.map((op) => ({ value: op.name, label: op.label && op.label !== op.name ? `${op.label} (${op.name})` : op.name }))];
      const current = operator(element) && operator(element).id;
      if (current && !operations.some((op) => op.name === current)) {
        options.push({ value: current, label: `${current} (operazione inesistente)` });
      }
      return options;
    },
  });
}

export function ResultVariableEntry({ element, id }) {
  const { injector, debounce } = useTools();
  return h(TextFieldEntry, {
    element,
    id,
    label: "Variabile del risultato",
    description: "Il nome con cui il risultato dell'operazione entra nei dati della pratica.",
    debounce,
    disabled: !operator(element),
    getValue: () => (operator(element) && operator(element).resultVariable) || "",
    setValue: (value) => setOperatorAttribute(element, injector, "resultVariable", value),
    validate: (value) => (!value || /^[A-Za-z_][A-Za-z0-9_]*$/.test(value) ? null : "Un nome di variabile: lettere, cifre e _, senza spazi."),
  });
}

export function ParameterEntry({ element, id, param, declared }) {
  const { injector, debounce } = useTools();
  const current = operatorParameters(element).find((item) => item.id === param);
  const value = current ? current.value || "" : "";
  const check = useExpressionCheck(value, "condition");
  const hint = declared === false ? "Parametro non previsto dall'operazione: lascialo vuoto per toglierlo."
    : declared && declared.required ? "Obbligatorio." : "Facoltativo.";
  return h(TextFieldEntry, {
    element,
    id,
    label: `${param}${declared && declared.required ? " *" : ""}`,
    description: statusLine(check, `${hint} Un'espressione sui dati della pratica (un testo va tra virgolette).`),
    debounce,
    getValue: () => {
      const found = operatorParameters(element).find((item) => item.id === param);
      return found ? found.value || "" : "";
    },
    setValue: (text) => {
      if (declared === false && !text) { removeParameter(element, injector, param); return; }
      setParameter(element, injector, param, text);
    },
  });
}

// --- script, conditions, decisions ---------------------------------------------------------------

export function ScriptEntry({ element, id }) {
  const { modeling, debounce } = useTools();
  const bo = getBusinessObject(element);
  const check = useExpressionCheck(bo.script || "", "script");
  return h(TextAreaEntry, {
    element,
    id,
    label: "Script (Python ristretto, verificato dalla sandbox)",
    description: statusLine(check),
    debounce,
    rows: 6,
    monospace: true,
    getValue: () => bo.script || "",
    setValue: (value) => modeling.updateProperties(element, { script: value || undefined }),
  });
}

export function ConditionEntry({ element, id }) {
  const { modeling, debounce, injector } = useTools();
  const bo = getBusinessObject(element);
  const body = bo.conditionExpression ? bo.conditionExpression.body || "" : "";
  const check = useExpressionCheck(body, "condition");
  return h(TextFieldEntry, {
    element,
    id,
    label: "Condizione",
    description: statusLine(check, 'Per esempio verifica["esito"] == "positivo".'),
    debounce,
    getValue: () => (bo.conditionExpression ? bo.conditionExpression.body || "" : ""),
    setValue: (value) => {
      const expression = value ? injector.get("bpmnFactory").create("bpmn:FormalExpression", { body: value }) : undefined;
      modeling.updateProperties(element, { conditionExpression: expression });
    },
  });
}

export function DecisionEntry({ element, id }) {
  const { injector, debounce } = useTools();
  return h(TextFieldEntry, {
    element,
    id,
    label: "Tabella decisionale (id della decisione DMN)",
    debounce,
    getValue: () => bodyExtension(element, "spiffworkflow:CalledDecisionId") || "",
    setValue: (value) => setBodyExtension(element, injector, "spiffworkflow:CalledDecisionId", value),
  });
}

// --- timers -------------------------------------------------------------------------------------

const TIMER_KINDS = ["timeDuration", "timeDate", "timeCycle"];

export function timerDefinition(element) {
  const bo = getBusinessObject(element);
  return (bo.eventDefinitions || []).find((definition) => is(definition, "bpmn:TimerEventDefinition"));
}

function timerKind(definition) {
  return TIMER_KINDS.find((kind) => definition && definition.get(kind)) || "timeDuration";
}

function timerBody(definition) {
  const expression = definition && definition.get(timerKind(definition));
  return expression ? expression.body || "" : "";
}

function writeTimer(element, injector, kind, body) {
  const definition = timerDefinition(element);
  if (!definition) { return; }
  const change = new Change(element, injector);
  const properties = {};
  TIMER_KINDS.forEach((name) => { properties[name] = undefined; });
  if (body !== undefined && body !== "") {
    const expression = change.create("bpmn:FormalExpression", { body }, definition);
    properties[kind] = expression;
  } else {
    properties[kind] = change.create("bpmn:FormalExpression", {}, definition);
  }
  change.update(definition, properties);
  change.run();
}

export function TimerTypeEntry({ element, id }) {
  const { injector } = useTools();
  return h(SelectEntry, {
    element,
    id,
    label: "Tipo di timer",
    getValue: () => timerKind(timerDefinition(element)),
    setValue: (kind) => writeTimer(element, injector, kind, timerBody(timerDefinition(element))),
    getOptions: () => [
      { value: "timeDuration", label: "Durata (dopo quanto tempo)" },
      { value: "timeDate", label: "Data (quando)" },
      { value: "timeCycle", label: "Ciclo (ogni quanto)" },
    ],
  });
}

export function TimerValueEntry({ element, id }) {
  const { injector, debounce } = useTools();
  const definition = timerDefinition(element);
  const kind = timerKind(definition);
  const body = timerBody(definition);
  const preview = timerPreview(kind, body);
  const check = useExpressionCheck(body, "timer", { skip: preview.iso });
  const previewState = preview.iso ? { status: preview.ok ? "info" : "error", message: preview.text } : check;
  return h(TextFieldEntry, {
    element,
    id,
    label: "Valore (ISO 8601 o espressione)",
    description: statusLine(previewState,
      preview.iso ? null : `${preview.text} Esempi: P3D (3 giorni), PT2H (2 ore), R/PT2H (ogni 2 ore), 2026-12-31T09:00, end_of_day(term_end(received_on, 45)).`),
    debounce,
    getValue: () => {
      const stored = timerBody(timerDefinition(element));
      const literal = unquote(stored);
      return literal !== null && looksIso(literal) ? literal : stored;
    },
    // An ISO value is stored as the string literal the engine evaluates ("P3D"); anything else as written.
    setValue: (text) => {
      const value = (text || "").trim();
      writeTimer(element, injector, timerKind(timerDefinition(element)), looksIso(value) ? JSON.stringify(value) : value);
    },
  });
}

// --- messages -----------------------------------------------------------------------------------

export function messageHolder(element) {
  const bo = getBusinessObject(element);
  if (is(bo, "bpmn:ReceiveTask") || is(bo, "bpmn:SendTask")) { return bo; }
  return (bo.eventDefinitions || []).find((definition) => is(definition, "bpmn:MessageEventDefinition"));
}

function definitionsOf(element) {
  let node = getBusinessObject(element);
  while (node && !is(node, "bpmn:Definitions")) { node = node.$parent; }
  return node;
}

export function MessageEntry({ element, id }) {
  const { ctx, injector } = useTools();
  const holder = messageHolder(element);
  const definitions = definitionsOf(element);
  const declared = () => (definitions ? definitions.get("rootElements").filter((root) => is(root, "bpmn:Message")) : []);
  return h(SelectEntry, {
    element,
    id,
    label: "Messaggio atteso o inviato",
    description: "I messaggi che una persona può consegnare e chi può farlo sono nel manifest (messages).",
    getValue: () => (holder && holder.messageRef ? holder.messageRef.name || holder.messageRef.id : ""),
    setValue: (name) => {
      if (!holder || !definitions) { return; }
      const change = new Change(element, injector);
      if (!name) {
        change.update(holder, { messageRef: undefined });
      } else {
        let message = declared().find((item) => item.name === name);
        if (!message) {
          const ids = injector.get("moddle").ids;
          let messageId = `msg_${name.replace(/[^A-Za-z0-9_]/g, "_")}`;
          if (ids && ids.assigned(messageId)) { messageId = ids.nextPrefixed("msg_"); }
          message = change.create("bpmn:Message", { id: messageId, name }, definitions);
          change.update(definitions, { rootElements: [...definitions.get("rootElements"), message] });
        }
        change.update(holder, { messageRef: message });
      }
      change.run();
    },
    getOptions: () => {
      const names = new Set(declared().map((message) => message.name).filter(Boolean));
      (ctx.palette.messages || []).forEach((message) => names.add(message.name));
      return [{ value: "", label: "— nessun messaggio —" }, ...[...names].sort().map((name) => ({ value: name, label: name }))];
    },
  });
}

// --- public milestone ---------------------------------------------------------------------------

export function MilestoneEntry({ element, id }) {
  const { ctx, debounce } = useTools();
  const bo = getBusinessObject(element);
  return h(TextFieldEntry, {
    element,
    id,
    label: "Tappa pubblica: etichetta per il cittadino",
    description: ctx.milestonesEditable
      ? "Se presente, il cittadino vede questa tappa nella cronologia della sua pratica (manifest: public_milestones)."
      : "Il manifest scrive public_milestones in un formato che lo studio non modifica: cambialo nel file manifest.yaml.",
    debounce,
    disabled: !ctx.milestonesEditable,
    getValue: () => ctx.milestones[bo.id] || "",
    setValue: (value) => ctx.setMilestone(bo.id, value),
  });
}
