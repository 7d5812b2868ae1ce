// Reading and writing the spiffworkflow extension elements the engine reads (engine/bundles.py
// user_task_metas, SpiffWorkflow's spiff parser): spiffworkflow:properties/property name+value,
// instructionsForEndUser, serviceTaskOperator id + resultVariable + parameters/parameter, calledDecisionId.
// Every change is one command on the command stack (one undo step).

import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

export function extensionValues(element) {
  const ext = getBusinessObject(element).get("extensionElements");
  return ext ? ext.get("values") : [];
}

export function findExtension(element, type) {
  return extensionValues(element).find((value) => is(value, type));
}

export function spiffProperty(element, name) {
  const properties = findExtension(element, "spiffworkflow:Properties");
  const property = properties && properties.get("properties").find((item) => item.name === name);
  return property ? property.value : undefined;
}

export function bodyExtension(element, type) {
  const extension = findExtension(element, type);
  return extension ? extension.value : undefined;
}

export function operator(element) {
  return findExtension(element, "spiffworkflow:ServiceTaskOperator");
}

export function operatorParameters(element) {
  const op = operator(element);
  const parameters = op && op.get("parameters");
  return parameters ? parameters.get("parameters") : [];
}

const blank = (value) => value === undefined || value === null || String(value).trim() === "";

// Collects the commands of one change and runs them as one.
export class Change {
  constructor(element, injector) {
    this.element = element;
    this.bo = getBusinessObject(element);
    this.bpmnFactory = injector.get("bpmnFactory");
    this.commandStack = injector.get("commandStack");
    this.commands = [];
  }

  update(moddleElement, properties) {
    this.commands.push({ cmd: "element.updateModdleProperties", context: { element: this.element, moddleElement, properties } });
  }

  create(type, attrs, parent) {
    const created = this.bpmnFactory.create(type, attrs);
    created.$parent = parent;
    return created;
  }

  extensionElements() {
    if (this._ext) { return this._ext; }
    let ext = this.bo.get("extensionElements");
    if (!ext) {
      ext = this.create("bpmn:ExtensionElements", { values: [] }, this.bo);
      this.update(this.bo, { extensionElements: ext });
      this._values = [];
    }
    this._ext = ext;
    return ext;
  }

  values() {
    if (!this._values) { this._values = [...this.extensionElements().get("values")]; }
    return this._values;
  }

  ensure(type, attrs) {
    const found = this.values().find((value) => is(value, type));
    if (found) { return found; }
    const created = this.create(type, attrs || {}, this.extensionElements());
    this._values = [...this.values(), created];
    this.update(this.extensionElements(), { values: this._values });
    return created;
  }

  drop(extension) {
    if (!extension) { return; }
    this._values = this.values().filter((value) => value !== extension);
    this.update(this.extensionElements(), { values: this._values });
  }

  run() {
    if (this.commands.length) {
      this.commandStack.execute("properties-panel.multi-command-executor", this.commands);
    }
  }
}

export function setSpiffProperty(element, injector, name, value) {
  setSpiffProperties(element, injector, { [name]: value });
}

// Sets (or, when blank, removes) several spiffworkflow:property entries in one command.
export function setSpiffProperties(element, injector, updates) {
  const change = new Change(element, injector);
  const existing = findExtension(element, "spiffworkflow:Properties");
  let list = existing ? [...existing.get("properties")] : [];
  let listChanged = false;
  for (const [name, value] of Object.entries(updates)) {
    const item = list.find((property) => property.name === name);
    if (blank(value)) {
      if (item) { list = list.filter((property) => property !== item); listChanged = true; }
    } else if (item && item.$pending) {
      item.value = value;
    } else if (item) {
      if (item.value !== value) { change.update(item, { value }); }
    } else {
      list = [...list, { $pending: true, name, value }];
      listChanged = true;
    }
  }
  if (listChanged) {
    if (!list.length) {
      change.drop(existing);
    } else {
      const properties = existing || change.ensure("spiffworkflow:Properties", { properties: [] });
      const final = list.map((property) => (property.$pending
        ? change.create("spiffworkflow:Property", { name: property.name, value: property.value }, properties) : property));
      change.update(properties, { properties: final });
    }
  }
  change.run();
}

export function setBodyExtension(element, injector, type, value) {
  const change = new Change(element, injector);
  const existing = findExtension(element, type);
  if (blank(value)) {
    change.drop(existing);
  } else if (existing) {
    change.update(existing, { value });
  } else {
    change.ensure(type, { value });
  }
  change.run();
}

// The operation of a service task: keeps the values of parameters the new operation also has and
// adds an empty row for each parameter it declares.
export function setOperator(element, injector, name, declared) {
  const change = new Change(element, injector);
  const existing = operator(element);
  if (blank(name)) {
    change.drop(existing);
    change.run();
    return;
  }
  const op = existing || change.ensure("spiffworkflow:ServiceTaskOperator", { id: name });
  if (existing && existing.id !== name) { change.update(existing, { id: name }); }
  const old = new Map(operatorParameters(element).map((parameter) => [parameter.id, parameter]));
  let parameters = op.get("parameters");
  if (!parameters) {
    parameters = change.create("spiffworkflow:Parameters", { parameters: [] }, op);
    change.update(op, { parameters });
  }
  const rows = (declared || []).map((param) => old.get(param.name)
    || change.create("spiffworkflow:Parameter", { id: param.name, type: "any", value: "" }, parameters));
  change.update(parameters, { parameters: rows });
  change.run();
}

export function setOperatorAttribute(element, injector, attribute, value) {
  const op = operator(element);
  if (!op) { return; }
  const change = new Change(element, injector);
  change.update(op, { [attribute]: blank(value) ? undefined : value });
  change.run();
}

export function setParameter(element, injector, id, value) {
  const op = operator(element);
  if (!op) { return; }
  const change = new Change(element, injector);
  let parameters = op.get("parameters");
  if (!parameters) {
    parameters = change.create("spiffworkflow:Parameters", { parameters: [] }, op);
    change.update(op, { parameters });
  }
  const current = parameters.get("parameters").find((parameter) => parameter.id === id);
  if (current) {
    change.update(current, { value: value || "" });
  } else {
    const parameter = change.create("spiffworkflow:Parameter", { id, type: "any", value: value || "" }, parameters);
    change.update(parameters, { parameters: [...parameters.get("parameters"), parameter] });
  }
  change.run();
}

export function removeParameter(element, injector, id) {
  const op = operator(element);
  const parameters = op && op.get("parameters");
  if (!parameters) { return; }
  const change = new Change(element, injector);
  change.update(parameters, { parameters: parameters.get("parameters").filter((parameter) => parameter.id !== id) });
  change.run();
}
