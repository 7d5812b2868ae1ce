// Procedo's properties provider: groups for what the engine reads (lanes as roles, user tasks'
// form / deadline / priority / four-eyes / instructions, service tasks' operation and parameters,
// scripts and conditions checked by the sandbox, timers with a readable preview, messages, decision
// tables, public milestones). The base BPMN provider keeps name, id, documentation, multi-instance.

import { getBusinessObject, is, isAny } from "bpmn-js/lib/util/ModelUtil";
import { isSelectEntryEdited, isTextAreaEntryEdited, isTextFieldEntryEdited, isNumberFieldEntryEdited } from "@bpmn-io/properties-panel";

import { operatorParameters, operator } from "../lib/extensions";
import {
  ConditionEntry, DecisionEntry, DueDateEntry, FormEntry, FourEyesEntry, InstructionsEntry, MessageEntry, MilestoneEntry,
  NewFormEntry, OperationEntry, ParameterEntry, PriorityEntry, ResultVariableEntry, RoleEntry, ScriptEntry,
  TimerTypeEntry, TimerValueEntry, UiFormEntry, WorkingDaysEntry, messageHolder, timerDefinition,
} from "./entries";

const LOW_PRIORITY = 500;

function userTaskGroup() {
  return {
    id: "procedo-task",
    label: "Compito dell'operatore",
    shouldOpen: true,
    entries: [
      { id: "procedo-form", component: FormEntry, isEdited: isSelectEntryEdited },
      { id: "procedo-new-form", component: NewFormEntry, isEdited: () => false },
      { id: "procedo-ui-form", component: UiFormEntry, isEdited: isTextFieldEntryEdited },
      { id: "procedo-due-date", component: DueDateEntry, isEdited: isTextFieldEntryEdited },
      { id: "procedo-working-days", component: WorkingDaysEntry, isEdited: isNumberFieldEntryEdited },
      { id: "procedo-priority", component: PriorityEntry, isEdited: isSelectEntryEdited },
      { id: "procedo-four-eyes", component: FourEyesEntry, isEdited: isSelectEntryEdited },
      { id: "procedo-instructions", component: InstructionsEntry, isEdited: isTextAreaEntryEdited },
    ],
  };
}

function serviceTaskGroup(element, ctx) {
  const entries = [
    { id: "procedo-operation", component: OperationEntry, isEdited: isSelectEntryEdited },
    { id: "procedo-result-variable", component: ResultVariableEntry, isEdited: isTextFieldEntryEdited },
  ];
  const op = operator(element);
  if (op) {
    const found = (ctx.palette.operations || []).find((item) => item.name === op.id);
    const declared = found ? found.params || [] : [];
    const names = new Set();
    declared.forEach((param) => {
      names.add(param.name);
      entries.push({ id: `procedo-param-${param.name}`, component: ParameterEntry, param: param.name, declared: param, isEdited: isTextFieldEntryEdited });
    });
    operatorParameters(element).forEach((parameter) => {
      if (names.has(parameter.id)) { return; }
      entries.push({
        id: `procedo-param-${parameter.id}`, component: ParameterEntry, param: parameter.id,
        declared: found ? false : null, isEdited: isTextFieldEntryEdited,
      });
    });
  }
  return { id: "procedo-service", label: "Operazione automatica", shouldOpen: true, entries };
}

function isConditional(element) {
  const bo = getBusinessObject(element);
  if (!is(bo, "bpmn:SequenceFlow")) { return false; }
  const source = bo.sourceRef;
  if (source && source.default === bo) { return false; }
  return !!bo.conditionExpression || isAny(source, ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway", "bpmn:ComplexGateway"]);
}

function hasMilestone(element) {
  return isAny(element, ["bpmn:FlowNode"]) && !is(element, "bpmn:SequenceFlow");
}

export default function ProcedoPropertiesProvider(propertiesPanel, procedoContext) {
  this.ctx = procedoContext;
  propertiesPanel.registerProvider(LOW_PRIORITY, this);
}

ProcedoPropertiesProvider.$inject = ["propertiesPanel", "procedoContext"];

ProcedoPropertiesProvider.prototype.getGroups = function (element) {
  const ctx = this.ctx;
  return (groups) => {
    // Timers and messages get Procedo's own groups (preview, sandbox check, manifest messages).
    const kept = groups.filter((group) => group.id !== "timer" && group.id !== "message");
    const ours = [];
    if (is(element, "bpmn:Lane")) {
      ours.push({ id: "procedo-role", label: "Ruolo", shouldOpen: true, entries: [{ id: "procedo-role-select", component: RoleEntry, isEdited: isSelectEntryEdited }] });
    }
    if (is(element, "bpmn:UserTask")) { ours.push(userTaskGroup()); }
    if (is(element, "bpmn:ServiceTask")) { ours.push(serviceTaskGroup(element, ctx)); }
    if (is(element, "bpmn:ScriptTask")) {
      ours.push({ id: "procedo-script", label: "Script", shouldOpen: true, entries: [{ id: "procedo-script-body", component: ScriptEntry, isEdited: isTextAreaEntryEdited }] });
    }
    if (is(element, "bpmn:BusinessRuleTask")) {
      ours.push({ id: "procedo-decision", label: "Tabella decisionale", shouldOpen: true, entries: [{ id: "procedo-decision-id", component: DecisionEntry, isEdited: isTextFieldEntryEdited }] });
    }
    if (isConditional(element)) {
      ours.push({ id: "procedo-condition", label: "Condizione", shouldOpen: true, entries: [{ id: "procedo-condition-body", component: ConditionEntry, isEdited: isTextFieldEntryEdited }] });
    }
    if (timerDefinition(element)) {
      ours.push({
        id: "procedo-timer", label: "Timer", shouldOpen: true, entries: [
          { id: "procedo-timer-type", component: TimerTypeEntry, isEdited: isSelectEntryEdited },
          { id: "procedo-timer-value", component: TimerValueEntry, isEdited: isTextFieldEntryEdited },
        ],
      });
    }
    if (messageHolder(element)) {
      ours.push({ id: "procedo-message", label: "Messaggio", shouldOpen: true, entries: [{ id: "procedo-message-ref", component: MessageEntry, isEdited: isSelectEntryEdited }] });
    }
    if (hasMilestone(element)) {
      ours.push({ id: "procedo-milestone", label: "Cronologia del cittadino", shouldOpen: true, entries: [{ id: "procedo-milestone-label", component: MilestoneEntry, isEdited: isTextFieldEntryEdited }] });
    }
    const general = kept.findIndex((group) => group.id === "general");
    kept.splice(general + 1, 0, ...ours);
    return kept;
  };
};
