"""Tiny BPMN models for the migration tests, built from a list of steps (no diagram: the engine
does not need one), published as versions of one process with tests.engine_models.inline_bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from engine.models import ProcessVersion
from engine.registry import process_version_publish
from tests.engine_models import inline_bundle

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
)
FORM = "empty.schema.json"


@dataclass
class Step:
    id: str
    kind: str = "user"  # user | script | call | multi
    name: str = ""
    script: str = ""  # script tasks (multi-instance: "sequential")
    called: str = ""  # call activities: the called process id
    timer: tuple[str, str] | None = None  # boundary timer (event id, ISO duration) on a user task
    due: str = ""  # user tasks: dueDate expression
    lane: str = "registrar"


@dataclass
class Model:
    process_id: str
    steps: list[Step] = field(default_factory=list)

    def xml(self, *, extra_processes: str = "") -> str:
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NS} id="defs_{self.process_id}" '
                f'targetNamespace="http://procedo.example/tests">{self.process_xml()}{extra_processes}'
                f"</bpmn:definitions>")

    def process_xml(self) -> str:
        nodes: list[str] = ['<bpmn:startEvent id="start" />']
        flows: list[str] = []
        lanes: dict[str, list[str]] = {}
        previous = "start"
        for step in self.steps:
            lanes.setdefault(step.lane, []).append(step.id)
            nodes.append(_node(step))
            flows.append(_flow(previous, step.id))
            previous = step.id
            if step.timer:
                event_id, duration = step.timer
                nodes.append(
                    f'<bpmn:boundaryEvent id="{event_id}" name="Scadenza" attachedToRef="{step.id}" cancelActivity="true">'
                    f'<bpmn:timerEventDefinition id="{event_id}_def"><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">'
                    f'"{duration}"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>'
                    f'<bpmn:scriptTask id="{event_id}_mark" name="Scaduto"><bpmn:script>timed_out = True</bpmn:script></bpmn:scriptTask>'
                    f'<bpmn:endEvent id="{event_id}_end" />'
                )
                flows += [_flow(event_id, f"{event_id}_mark"), _flow(f"{event_id}_mark", f"{event_id}_end")]
                lanes[step.lane] += [event_id, f"{event_id}_mark", f"{event_id}_end"]
        nodes.append('<bpmn:endEvent id="end" />')
        flows.append(_flow(previous, "end"))
        first = next(iter(lanes), "registrar")
        lanes.setdefault(first, [])
        lanes[first] += ["start", "end"]
        lane_xml = "".join(
            f'<bpmn:lane id="lane_{role}" name="{role}">'
            + "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in refs)
            + "</bpmn:lane>"
            for role, refs in lanes.items()
        )
        return (f'<bpmn:process id="{self.process_id}" name="Prova {self.process_id}" isExecutable="true">'
                f'<bpmn:laneSet id="lanes_{self.process_id}">{lane_xml}</bpmn:laneSet>'
                + "".join(nodes) + "".join(flows) + "</bpmn:process>")


def _flow(source: str, target: str) -> str:
    return f'<bpmn:sequenceFlow id="f_{source}_{target}" sourceRef="{source}" targetRef="{target}" />'


def _node(step: Step) -> str:
    name = quoteattr(step.name or step.id.replace("_", " ").capitalize())
    if step.kind == "script":
        return f'<bpmn:scriptTask id="{step.id}" name={name}><bpmn:script>{step.script}</bpmn:script></bpmn:scriptTask>'
    if step.kind == "call":
        return f'<bpmn:callActivity id="{step.id}" name={name} calledElement="{step.called}" />'
    props = f'<spiffworkflow:property name="formJsonSchemaFilename" value="{FORM}" />'
    if step.due:
        props += f"<spiffworkflow:property name=\"dueDate\" value={quoteattr(step.due)} />"
    loop = ""
    if step.kind == "multi":
        sequential = ' isSequential="true"' if step.script == "sequential" else ""
        loop = (f'<bpmn:multiInstanceLoopCharacteristics{sequential}><bpmn:loopDataInputRef>members</bpmn:loopDataInputRef>'
                '<bpmn:loopDataOutputRef>reviews</bpmn:loopDataOutputRef><bpmn:inputDataItem id="member" name="member" />'
                '<bpmn:outputDataItem id="review" name="review" /></bpmn:multiInstanceLoopCharacteristics>')
    return (f'<bpmn:userTask id="{step.id}" name={name}><bpmn:extensionElements><spiffworkflow:properties>{props}'
            f"</spiffworkflow:properties></bpmn:extensionElements>{loop}</bpmn:userTask>")


def publish(model: Model, *, children: tuple[Model, ...] = ()) -> ProcessVersion:
    """Publish `model` (and the processes it calls, in the same file) as the next version."""
    extra = "".join(child.process_xml() for child in children)
    files = {f"{model.process_id}.bpmn": model.xml(extra_processes=extra), f"forms/{FORM}": '{"type": "object"}'}
    outcome = process_version_publish(bundle=inline_bundle(model.process_id, f"Prova {model.process_id}", files))
    return ProcessVersion.objects.select_related("definition").get(
        definition__process_id=model.process_id, version=outcome.version
    )


def linear(process_id: str, *ids: str, **steps: Step) -> Model:
    """A process of user tasks `ids` in a row; `steps` replaces a task by a custom step of the same id."""
    return Model(process_id, [steps.get(i) or Step(i) for i in ids])
