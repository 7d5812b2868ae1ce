"""A procedure's manifest.yaml, loaded in one place into a typed, validated `Manifest`.

What it declares: its name and category, who may open a case and through which channel, which
messages a person may deliver, which steps a citizen sees, the legal deadline, the outcomes'
labels and the deeds it issues (template, field list, data mapping, all in the procedure folder).

`Manifest.parse` builds the object and collects every problem (in Italian, naming the file);
`manifest_of(version)` gives the manifest of a stored, immutable version, cached. Every accessor
fails closed: a manifest (or a version stored before these keys existed) that declares nothing
lets nobody start it, and lets no person deliver any message.

The BPMN is not re-read here: element ids, message names and the order of the elements come from
the specs SpiffWorkflow parsed (`engine.bundles`).
"""

from __future__ import annotations

import ast
import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from accounts.roles import Role

from .sandbox import SandboxViolation, check_expression

# platform: only the system opens it (a national platform's request, e.g. the ANPR poller);
# counter: staff record a request received at the desk, by PEC or on paper;
# portal: a citizen files it online for themselves.
CHANNELS = frozenset({"platform", "counter", "portal"})
# Who may be named in `starters`: read-only viewers and process administrators never open cases.
STARTER_ROLES = frozenset({Role.REGISTRAR, Role.CIVIL_REGISTRAR, Role.POLICE, Role.SUPERVISOR, Role.CITIZEN})
# Who may be named as a deliverer of a message (`messages`).
DELIVERER_ROLES = STARTER_ROLES
# Who among the holders of those roles may deliver a message (`messages: {name: {roles, by}}`):
# anyone (the default) or only the person who started the case (`starter`, e.g. the reporter of
# a malfunction ticket confirms or reopens it).
MESSAGE_DELIVERERS = ("anyone", "starter")
DEADLINE_KINDS = ("calendar", "working")
# The operation that issues a deed; its service tasks get their `data` from the deed's mapping.
DEED_OPERATION = "documents.render_and_sign"
KNOWN_KEYS = ("name", "description", "category", "channel", "starters", "start_form", "subjects_path",
              "business_key", "legal_deadline", "outcomes", "messages", "public_milestones", "deeds", "portal",
              "settings")
SETTING_KEYS = ("title", "description", "type", "default", "minimum", "maximum")
SETTING_TYPES = ("integer", "boolean")
DEED_KEYS = ("title", "template", "fields", "mapping")
PORTAL_KEYS = ("audience", "documents", "fees", "withdrawal")


@dataclass(frozen=True)
class LegalDeadline:
    """The term within which the procedure must end (e.g. 45 calendar days, art. 2 L. 241/1990)."""

    days: int
    kind: Literal["calendar", "working"] = "calendar"


@dataclass(frozen=True)
class PortalInfo:
    """What the citizens' service page says of a procedure filed online (`portal:` in the manifest):
    who may use it, the documents to prepare (when the procedure has no required-documents DMN),
    the fees, and whether the citizen may withdraw a case still open (`withdrawal`)."""

    audience: str = ""
    documents: tuple[str, ...] = ()
    fees: str = ""
    withdrawal: bool = False


@dataclass(frozen=True)
class Deed:
    """A deed the procedure issues: a DOCX template in the folder, the data it may use (`fields`,
    a nested mapping as `documents.templates.validate_template` reads it) and how that data is
    computed from the case (`mapping`: the same shape, each leaf an expression of the engine's
    sandbox evaluated on the case data when the service task that issues the deed is reached)."""

    name: str
    title: str
    template: str  # path inside the procedure folder
    fields_file: str
    mapping_file: str | None
    fields: Mapping[str, Any]
    mapping: Mapping[str, Any] | None

    def data_expression(self) -> str | None:
        """The mapping as one sandbox expression building the deed's data (a dict literal).

        Built from the parsed leaves, so a leaf can only ever be one whole expression."""
        if self.mapping is None:
            return None
        return ast.unparse(_mapping_ast(self.mapping))


@dataclass(frozen=True)
class ProcessSetting:
    """A choice each municipality makes for the procedure (e.g. the days to pay the stamp duty),
    declared with its default; the case sees the tenant's value as `settings[<name>]`, fixed when
    the case opens (cases.services)."""

    name: str
    title: str
    type: Literal["integer", "boolean"]
    default: Any
    description: str = ""
    minimum: int | None = None
    maximum: int | None = None

    def clean(self, value: Any) -> Any:
        """The value as the case will see it, or ValueError with an Italian message."""
        if self.type == "boolean":
            if isinstance(value, bool):
                return value
            if str(value).strip().lower() in ("true", "on", "1", "si", "sì"):
                return True
            if str(value).strip().lower() in ("false", "off", "0", "no", ""):
                return False
            raise ValueError("valore sì/no non valido")
        try:
            number = int(str(value).strip())
        except ValueError as exc:
            raise ValueError("numero intero non valido") from exc
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"almeno {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"al massimo {self.maximum}")
        return number


@dataclass(frozen=True)
class Manifest:
    process_id: str
    name: str
    description: str = ""
    category: str = ""
    channels: frozenset[str] = frozenset()
    starters: frozenset[str] = frozenset()
    start_form: str | None = None
    subjects_path: str | None = None
    business_key: str | None = None
    legal_deadline: LegalDeadline | None = None
    outcomes: Mapping[str, str] = field(default_factory=dict)
    messages: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Messages only the person who started the case may deliver (`by: starter`).
    starter_messages: frozenset[str] = frozenset()
    # Messages a case takes only when a condition on its data and the message holds
    # (`messages: {name: {roles, accept_if: <expression>}}`; the payload is `message`), e.g. a
    # confirmation must quote the reference of the request this case sent.
    message_guards: Mapping[str, str] = field(default_factory=dict)
    # (BPMN element id, the Italian label a citizen sees once the case reaches it), in the order
    # of the parsed model (the stored manifest is JSONB, whose keys lose their order).
    public_milestones: tuple[tuple[str, str], ...] = ()
    deeds: Mapping[str, Deed] = field(default_factory=dict)
    portal: PortalInfo = PortalInfo()
    settings: tuple[ProcessSetting, ...] = ()
    problems: tuple[str, ...] = ()

    def setting_defaults(self) -> dict[str, Any]:
        return {s.name: s.default for s in self.settings}

    def message_roles(self, message: str) -> frozenset[str]:
        """Roles whose holders may deliver `message` to a case; empty: only the system delivers it."""
        return self.messages.get(message, frozenset())

    def message_guard(self, message: str) -> str | None:
        """The `accept_if` expression of `message`, or None (any waiting case takes it)."""
        return self.message_guards.get(message)

    def message_by_starter_only(self, message: str) -> bool:
        """True: among those roles, only the person who started the case may deliver `message`."""
        return message in self.starter_messages

    def outcome_label(self, outcome: str) -> str:
        return self.outcomes.get(outcome, outcome)

    @classmethod
    def parse(cls, process_id: str, mapping: Any, files: Mapping[str, str], *, specs: Any = None) -> Manifest:
        """The typed manifest of a procedure, with the problems of its declarations.

        `specs` is the (spec, subprocess_specs) pair of the parsed model; without it the model is
        parsed here. A model that does not parse gets no BPMN checks (its own check reports it)."""
        return _Parser(process_id, mapping, files, specs).parse()


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class _Parser:
    def __init__(self, process_id: str, mapping: Any, files: Mapping[str, str], specs: Any) -> None:
        self.pid = process_id
        self.mapping = mapping
        self.raw: dict[str, Any] = mapping if isinstance(mapping, dict) else {}
        self.files = files
        self.specs = specs
        self.where = f"{process_id}/manifest.yaml"
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def parse(self) -> Manifest:
        raw = self.raw
        if self.mapping is not None and not isinstance(self.mapping, dict):
            self.problem("il manifest deve essere una mappa di chiavi")
        for key in raw:
            if key not in KNOWN_KEYS:
                # A typo (`starter:`) must not silently deny or allow: name it.
                self.problem(f"chiave sconosciuta '{key}' (ammesse: {', '.join(KNOWN_KEYS)})")
        channels, starters = self._access()
        start_form = raw.get("start_form") or None
        if not start_form:
            self.problem("manca 'start_form' (ogni procedimento ha lo schema dei dati di avvio)")
        elements, message_names = self._model()
        messages, starter_messages, message_guards = self._messages(message_names)
        milestones = self._milestones(elements)
        deeds = self._deeds()
        if deeds:
            self._deed_service_tasks(deeds)
        return Manifest(
            process_id=self.pid,
            name=_text(raw.get("name")) or self.pid,
            description=_text(raw.get("description")),
            category=_text(raw.get("category")),
            channels=frozenset(c for c in channels if c in CHANNELS),
            starters=frozenset(r for r in starters if r in STARTER_ROLES),
            start_form=start_form if isinstance(start_form, str) else None,
            subjects_path=_text(raw.get("subjects_path")) or None,
            business_key=_text(raw.get("business_key")) or None,
            legal_deadline=self._deadline(),
            outcomes=self._outcomes(),
            messages=messages,
            starter_messages=starter_messages,
            message_guards=message_guards,
            public_milestones=milestones,
            deeds=deeds,
            portal=self._portal(channels),
            settings=self._settings(),
            problems=tuple(self.problems),
        )

    # ---------------------------------------------------------------- access

    def _access(self) -> tuple[list[Any], list[Any]]:
        raw = self.raw
        channels = _as_list(raw.get("channel"))
        starters = _as_list(raw.get("starters"))
        known_channels = ", ".join(sorted(CHANNELS))
        known_roles = ", ".join(sorted(STARTER_ROLES))
        if not channels:
            self.problem(f"manca 'channel' (come si apre una pratica: {known_channels})")
            channels = []
        for channel in channels:
            if channel not in CHANNELS:
                self.problem(f"canale sconosciuto '{channel}' in 'channel' (ammessi: {known_channels})")
        if starters is None:
            self.problem(f"manca 'starters' (i ruoli che possono aprire una pratica: {known_roles}; "
                         f"[] se la apre solo il sistema)")
            starters = []
        for role in starters:
            if role not in STARTER_ROLES:
                self.problem(f"ruolo sconosciuto o non ammesso '{role}' in 'starters' (ammessi: {known_roles})")
        if channels and set(channels) <= {"platform"} and starters:
            self.problem("un procedimento con channel 'platform' lo apre solo il sistema: 'starters' deve essere []")
        if Role.CITIZEN in starters and "portal" not in channels:
            self.problem("'citizen' in 'starters' richiede il canale 'portal'")
        if "portal" in channels and Role.CITIZEN not in starters:
            self.problem("il canale 'portal' richiede 'citizen' in 'starters'")
        if "portal" in channels and not raw.get("subjects_path"):
            # A citizen files only as one of the subjects: without them nobody could ever file it.
            self.problem("il canale 'portal' richiede 'subjects_path' (chi presenta la domanda)")
        staff = [r for r in starters if r in STARTER_ROLES and r != Role.CITIZEN]
        if staff and "counter" not in channels:
            self.problem(f"i ruoli {', '.join(staff)} in 'starters' richiedono il canale 'counter'")
        if "counter" in channels and not staff:
            self.problem("il canale 'counter' richiede almeno un ruolo d'ufficio in 'starters'")
        return channels, starters

    def _portal(self, channels: list[Any]) -> PortalInfo:
        declared = self.raw.get("portal")
        if declared is None:
            return PortalInfo()
        if not isinstance(declared, dict):
            self.problem("'portal' deve essere una mappa (ammesse: " + ", ".join(PORTAL_KEYS) + ")")
            return PortalInfo()
        for key in declared:
            if key not in PORTAL_KEYS:
                self.problem(f"chiave sconosciuta '{key}' in 'portal' (ammesse: {', '.join(PORTAL_KEYS)})")
        if "portal" not in (channels or []):
            self.problem("'portal' descrive il servizio online: richiede il canale 'portal'")
        documents = declared.get("documents") or []
        if not isinstance(documents, list) or not all(isinstance(d, str) and d.strip() for d in documents):
            self.problem("'portal.documents' deve essere un elenco di testi")
            documents = []
        withdrawal = declared.get("withdrawal", False)
        if not isinstance(withdrawal, bool):
            self.problem("'portal.withdrawal' deve essere true o false")
            withdrawal = False
        return PortalInfo(audience=_text(declared.get("audience")), documents=tuple(documents),
                          fees=_text(declared.get("fees")), withdrawal=withdrawal)
    def _settings(self) -> tuple[ProcessSetting, ...]:
        raw = self.raw.get("settings")
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            self.problem("'settings' deve essere una mappa nome -> {title, type, default, ...}")
            return ()
        found = []
        for name, spec in raw.items():
            where = f"impostazione '{name}'"
            if not isinstance(name, str) or not name.isidentifier():
                self.problem(f"{where}: il nome deve essere un identificatore")
                continue
            if not isinstance(spec, dict):
                self.problem(f"{where}: deve essere una mappa")
                continue
            unknown = [key for key in spec if key not in SETTING_KEYS]
            for key in unknown:
                self.problem(f"{where}: chiave sconosciuta '{key}' (ammesse: {', '.join(SETTING_KEYS)})")
            if unknown:
                continue
            kind = spec.get("type")
            if kind not in SETTING_TYPES:
                self.problem(f"{where}: 'type' deve essere uno di {', '.join(SETTING_TYPES)}")
                continue
            bounds = {k: spec.get(k) for k in ("minimum", "maximum")}
            if any(v is not None and (isinstance(v, bool) or not isinstance(v, int)) for v in bounds.values()):
                self.problem(f"{where}: 'minimum' e 'maximum' devono essere interi")
                continue
            setting = ProcessSetting(name=name, title=_text(spec.get("title")) or name, type=kind,
                                     default=spec.get("default"), description=_text(spec.get("description")),
                                     minimum=bounds["minimum"], maximum=bounds["maximum"])
            try:
                if setting.clean(setting.default) != setting.default:
                    raise ValueError("default di tipo sbagliato")
            except ValueError as exc:
                self.problem(f"{where}: 'default' non valido ({exc})")
                continue
            found.append(setting)
        return tuple(found)

    def _deadline(self) -> LegalDeadline | None:
        declared = self.raw.get("legal_deadline")
        if declared is None:
            return None
        if not isinstance(declared, dict):
            self.problem("'legal_deadline' deve indicare 'days' e 'kind' (calendar o working)")
            return None
        days, kind = declared.get("days"), declared.get("kind", "calendar")
        for key in declared:
            if key not in ("days", "kind"):
                self.problem(f"chiave sconosciuta '{key}' in 'legal_deadline' (ammesse: days, kind)")
        if days is None:
            return None  # declared without a term: no legal due date
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            self.problem("'legal_deadline.days' deve essere un numero di giorni positivo")
            return None
        if kind not in DEADLINE_KINDS:
            self.problem(f"'legal_deadline.kind' deve essere {' o '.join(DEADLINE_KINDS)}, non '{kind}'")
            return None
        return LegalDeadline(days=days, kind=kind)

    def _outcomes(self) -> dict[str, str]:
        declared = self.raw.get("outcomes")
        if declared is None:
            return {}
        if not isinstance(declared, dict):
            self.problem("'outcomes' deve associare a ogni esito la sua etichetta")
            return {}
        outcomes = {}
        for key, label in declared.items():
            if not isinstance(label, str) or not label.strip():
                self.problem(f"l'esito '{key}' in 'outcomes' non ha un'etichetta")
                continue
            outcomes[str(key)] = label
        return outcomes

    # ---------------------------------------------------------------- the model

    def _model(self) -> tuple[list[str] | None, set[str] | None]:
        """Element ids of the parsed model in the parser's order, and the message names it uses;
        (None, None) when the model does not parse (reported by the model's own check)."""
        specs = self.specs
        if specs is None:
            if not any(name.endswith(".bpmn") for name in self.files):
                return None, None
            try:
                specs = model_specs(self.pid, self.files)
            except Exception:  # noqa: BLE001 - the parser raises assorted errors for broken models
                return None, None
        return model_elements(specs), model_messages(specs)

    def _messages(
        self, message_names: set[str] | None
    ) -> tuple[dict[str, frozenset[str]], frozenset[str], dict[str, str]]:
        """{message: roles}, the messages only the case's starter delivers and {message: accept_if}.
        Each entry is a list of roles, or a mapping {roles: [...], by: anyone|starter, accept_if: expr}."""
        declared = self.raw.get("messages") or {}
        guards: dict[str, str] = {}
        if not isinstance(declared, dict):
            self.problem("'messages' deve associare a ogni messaggio i ruoli che possono consegnarlo")
            return {}, frozenset(), guards
        known_roles = ", ".join(sorted(STARTER_ROLES))
        messages: dict[str, frozenset[str]] = {}
        starter_only: set[str] = set()
        for name, entry in declared.items():
            if message_names is not None and name not in message_names:
                self.problem(f"il messaggio '{name}' in 'messages' non esiste nel modello "
                             f"(messaggi del BPMN: {', '.join(sorted(message_names)) or 'nessuno'})")
            roles = entry
            if isinstance(entry, dict):
                unknown = set(entry) - {"roles", "by", "accept_if"}
                if unknown:
                    self.problem(f"chiavi sconosciute {sorted(unknown)} per il messaggio '{name}' "
                                 "(ammesse: roles, by, accept_if)")
                roles, by = entry.get("roles"), entry.get("by", "anyone")
                guard = entry.get("accept_if")
                if guard is not None:
                    if not isinstance(guard, str) or not guard.strip():
                        self.problem(f"'accept_if' del messaggio '{name}' deve essere un'espressione")
                    else:
                        try:
                            check_expression(guard)
                        except (SandboxViolation, SyntaxError) as exc:
                            self.problem(f"'accept_if' del messaggio '{name}' non è un'espressione ammessa: {exc}")
                        else:
                            guards[str(name)] = guard
                if by not in MESSAGE_DELIVERERS:
                    self.problem(f"'by' del messaggio '{name}' deve essere uno di: {', '.join(MESSAGE_DELIVERERS)}")
                elif by == "starter":
                    starter_only.add(str(name))
            role_list = _as_list(roles)
            if not role_list:
                self.problem(f"il messaggio '{name}' in 'messages' non indica i ruoli che possono consegnarlo")
                continue
            for role in role_list:
                if role not in DELIVERER_ROLES:
                    self.problem(f"ruolo sconosciuto o non ammesso '{role}' per il messaggio '{name}' "
                                 f"(ammessi: {known_roles})")
            messages[str(name)] = frozenset(r for r in role_list if r in DELIVERER_ROLES)
        return messages, frozenset(starter_only), guards

    def _milestones(self, elements: list[str] | None) -> tuple[tuple[str, str], ...]:
        declared = self.raw.get("public_milestones") or {}
        if not isinstance(declared, dict):
            self.problem("'public_milestones' deve associare a un elemento del BPMN un'etichetta")
            return ()
        order = {element: i for i, element in enumerate(elements or [])}
        pairs = []
        for element, label in declared.items():
            if elements is not None and element not in order:
                self.problem(f"l'elemento '{element}' in 'public_milestones' non esiste nel modello")
            if not isinstance(label, str) or not label.strip():
                self.problem(f"l'elemento '{element}' in 'public_milestones' non ha un'etichetta")
                continue
            pairs.append((str(element), label))
        return tuple(sorted(pairs, key=lambda pair: order.get(pair[0], len(order))))

    # ---------------------------------------------------------------- deeds

    def _deeds(self) -> dict[str, Deed]:
        declared = self.raw.get("deeds")
        if declared is None:
            return {}
        if not isinstance(declared, dict):
            self.problem("'deeds' deve associare a ogni atto il suo modello, i suoi campi e la mappatura dei dati")
            return {}
        deeds: dict[str, Deed] = {}
        for name, spec in declared.items():
            deed = self._deed(str(name), spec)
            if deed is not None:
                deeds[deed.name] = deed
        return deeds

    def _deed(self, name: str, spec: Any) -> Deed | None:
        label = f"l'atto '{name}' in 'deeds'"
        if not name.isidentifier():
            self.problem(f"{label}: il nome deve essere un identificatore (lettere, cifre, _)")
            return None
        if not isinstance(spec, dict):
            self.problem(f"{label} deve indicare 'template', 'fields' e 'mapping'")
            return None
        for key in spec:
            if key not in DEED_KEYS:
                self.problem(f"{label}: chiave sconosciuta '{key}' (ammesse: {', '.join(DEED_KEYS)})")
        template, fields_file, mapping_file = spec.get("template"), spec.get("fields"), spec.get("mapping")
        ok = True
        for key, path, suffixes in (("template", template, (".docx",)), ("fields", fields_file, (".yaml", ".yml")),
                                    ("mapping", mapping_file, (".yaml", ".yml"))):
            if path is None and key == "mapping":
                continue
            if not isinstance(path, str) or not path.endswith(suffixes):
                self.problem(f"{label}: '{key}' deve indicare un file {' o '.join(suffixes)} della cartella")
                ok = False
            elif path not in self.files:
                self.problem(f"{label}: il file {path} indicato in '{key}' non esiste")
                ok = False
        if not ok:
            return None
        fields = self._yaml(fields_file, "campi dell'atto")
        if not isinstance(fields, dict) or not fields:
            if fields is not None:
                self.problem(f"{label}: {fields_file} deve elencare i campi dell'atto (una mappa)")
            return None
        mapping = None
        if mapping_file is not None:
            loaded = self._yaml(mapping_file, "mappatura dei dati")
            if loaded is None:
                return None
            if not isinstance(loaded, dict):
                self.problem(f"{label}: {mapping_file} deve associare a ogni campo un'espressione")
                return None
            before = len(self.problems)
            self._check_mapping(loaded, fields, f"{self.pid}/{mapping_file}", "")
            if len(self.problems) > before:
                return None
            mapping = loaded
        title = spec.get("title")
        return Deed(name=name, title=title if isinstance(title, str) and title.strip() else name,
                    template=template, fields_file=fields_file, mapping_file=mapping_file,
                    fields=fields, mapping=mapping)

    def _yaml(self, path: str, what: str) -> Any:
        text = self.files.get(path, "")
        if text.startswith("base64:"):
            text = base64.b64decode(text.removeprefix("base64:")).decode("utf-8", "replace")
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" alla riga {mark.line + 1}" if mark is not None else ""
            self.problems.append(f"{self.pid}/{path}: YAML non valido{line} ({what})")
            return None

    def _check_mapping(self, mapping: dict[str, Any], fields: Any, where: str, prefix: str) -> None:
        """Every key a field of the deed, every leaf one expression the engine's sandbox accepts."""
        for key, value in mapping.items():
            path = f"{prefix}{key}"
            if not isinstance(fields, dict) or key not in fields:
                self.problems.append(f"{where}: il campo '{path}' non è tra i campi dell'atto")
                continue
            if isinstance(value, dict):
                self._check_mapping(value, fields[key], where, f"{path}.")
                continue
            if not isinstance(value, str) or not value.strip():
                self.problems.append(f"{where}: il campo '{path}' deve indicare un'espressione (testo)")
                continue
            try:
                check_expression(value, "eval")
            except SandboxViolation as exc:
                self.problems.append(f"{where}: campo '{path}': espressione non ammessa: {exc}")
            except SyntaxError as exc:
                self.problems.append(f"{where}: campo '{path}': errore di sintassi: {exc.msg}")
            except (ValueError, TypeError) as exc:
                self.problems.append(f"{where}: campo '{path}': espressione non ammessa: {exc}")

    def _deed_service_tasks(self, deeds: dict[str, Deed]) -> None:
        """Each deed is issued by at least one service task; one that takes its data from the
        mapping does not also declare its own `data` parameter."""
        if self.specs is None:
            return
        used: set[str] = set()
        for task_spec in _task_specs(self.specs):
            name = deed_of_task(task_spec)
            if name is None or name not in deeds:
                continue
            used.add(name)
            params = getattr(task_spec, "operation_params", None) or {}
            if deeds[name].mapping is not None and "data" in params and not params["data"].get(_INJECTED):
                self.problem(f"il service task '{task_spec.bpmn_id}' indica il parametro 'data' ma l'atto "
                             f"'{name}' ha già la mappatura {deeds[name].mapping_file}: tenere una sola delle due")
        for name in sorted(set(deeds) - used):
            self.problem(f"l'atto '{name}' in 'deeds' non è emesso da nessun service task "
                         f"({DEED_OPERATION} con template \"{name}\")")


def _mapping_ast(mapping: Mapping[str, Any]) -> ast.expr:
    keys: list[ast.expr | None] = []
    values: list[ast.expr] = []
    for key, value in mapping.items():
        keys.append(ast.Constant(str(key)))
        values.append(_mapping_ast(value) if isinstance(value, Mapping)
                      else ast.parse(str(value).strip(), mode="eval").body)
    return ast.Dict(keys=keys, values=values)


# ---------------------------------------------------------------- parsed specs


def model_specs(process_id: str, files: Mapping[str, str]) -> Any:
    """(spec, subprocess_specs) of a procedure's files, as the engine parses them (deeds attached)."""
    from .bundles import _parse  # bundles imports this module

    return _parse(dict(files), process_id)


def user_task_ids(specs: Any) -> frozenset[str]:
    return frozenset(t.bpmn_id for t in _task_specs(specs)
                     if type(t).__name__ == "UserTask" and getattr(t, "bpmn_id", None))


def _task_specs(specs: Any) -> Iterable[Any]:
    spec, subprocess_specs = specs
    for process in (spec, *(subprocess_specs or {}).values()):
        yield from process.task_specs.values()


def model_elements(specs: Any) -> list[str]:
    """BPMN ids of the model's flow elements, in the order the parser met them (from the start
    event along the flows, main process first), end events last: several outcomes that share their
    last steps (an outcome letter) reach the parser's walk before the longer branches do, but a
    citizen reads the end of the case after every step that led there."""
    ids: list[str] = []
    ends: list[str] = []
    seen: set[str] = set()
    for task_spec in _task_specs(specs):
        bpmn_id = getattr(task_spec, "bpmn_id", None)
        if bpmn_id and bpmn_id not in seen:
            seen.add(bpmn_id)
            (ends if type(task_spec).__name__ == "EndEvent" else ids).append(bpmn_id)
    return ids + ends


def model_messages(specs: Any) -> set[str]:
    """Names of the messages the model catches or throws."""
    names: set[str] = set()

    def visit(definition: Any) -> None:
        for inner in getattr(definition, "event_definitions", None) or []:
            visit(inner)
        if type(definition).__name__.endswith("MessageEventDefinition") and getattr(definition, "name", None):
            names.add(definition.name)

    for task_spec in _task_specs(specs):
        definition = getattr(task_spec, "event_definition", None)
        if definition is not None:
            visit(definition)
    return names


def deed_of_task(task_spec: Any) -> str | None:
    """The deed a service task issues: `documents.render_and_sign` with a literal `template`."""
    if getattr(task_spec, "operation_name", None) != DEED_OPERATION:
        return None
    param = (getattr(task_spec, "operation_params", None) or {}).get("template") or {}
    try:
        value = ast.literal_eval(str(param.get("value", "")).strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


_INJECTED = "procedo_deed_mapping"


def attach_deed_mappings(specs: Any, files: Mapping[str, str], process_id: str) -> None:
    """Give each service task that issues a declared deed the deed's mapping as its `data`
    parameter, so the engine evaluates it in the sandbox like any other parameter (and the
    bundle check sees it). Called by the parser's owner on freshly parsed specs of a version,
    whose files (mapping included) are immutable. A deed with problems gets nothing."""
    if "deeds" not in files.get("manifest.yaml", ""):
        return
    try:
        manifest = yaml.safe_load(files["manifest.yaml"])
    except yaml.YAMLError:
        return  # reported by the manifest check
    if not isinstance(manifest, dict) or not manifest.get("deeds"):
        return
    parsed = Manifest.parse(process_id, manifest, files, specs=specs)
    for task_spec in _task_specs(specs):
        name = deed_of_task(task_spec)
        deed = parsed.deeds.get(name) if name else None
        if deed is None or deed.mapping is None or "data" in task_spec.operation_params:
            continue
        task_spec.operation_params["data"] = {"name": "data", "type": "any", "value": deed.data_expression(),
                                              _INJECTED: True}


# ---------------------------------------------------------------- stored versions

_by_version: dict[tuple[int, str], Manifest] = {}


def manifest_of(version: Any) -> Manifest:
    """The manifest of a stored process version (immutable: cached per id and content hash)."""
    key = (version.pk, version.content_hash)
    cached = _by_version.get(key)
    if cached is None:
        from .bundles import parsed_specs, version_files

        try:
            specs = parsed_specs(version)
        except Exception:  # noqa: BLE001 - a stored version always parsed once; never fail a reader on it
            specs = None
        cached = Manifest.parse(version.definition.process_id, version.manifest, version_files(version), specs=specs)
        if len(_by_version) > 256:
            _by_version.clear()
        _by_version[key] = cached
    return cached


def forget_cached_manifests() -> None:
    _by_version.clear()


def manifest_problems(process_id: str, manifest: Any, files: Mapping[str, str], *, specs: Any = None) -> list[str]:
    """Every problem of the manifest, each naming the file; with its deeds' templates checked
    against their field lists (syntax, names, filters: in this process, no sample rendering;
    `deed_render_problems` adds that when a version is published)."""
    parsed = Manifest.parse(process_id, manifest, files, specs=specs)
    return [*parsed.problems, *deed_template_problems(parsed, files, render_sample=False)]


# (template sha256, fields) of deeds whose sample rendering passed in this process: sync_processes
# runs at every demo start and in many tests, and an unchanged deed need not be rendered again.
_rendered: set[tuple[str, str]] = set()


def deed_render_problems(process_id: str, manifest: Any, files: Mapping[str, str]) -> list[str]:
    """At publication: each deed also renders with sample data in the documents sandbox (child
    process, CPU/memory/time limits), as an upload does; a template that loops forever is refused."""
    if not isinstance(manifest, dict) or not manifest.get("deeds"):
        return []
    parsed = Manifest.parse(process_id, manifest, files)
    return deed_template_problems(parsed, files, render_sample=True)


def deed_template_problems(manifest: Manifest, files: Mapping[str, str], *, render_sample: bool) -> list[str]:
    """Each deed's DOCX passes the template checks of an upload, against its field list."""
    import hashlib
    import json

    from documents.errors import TemplateRejected  # the template language belongs to documents
    from documents.templates import validate_template

    problems = []
    for deed in manifest.deeds.values():
        stored = files.get(deed.template, "")
        where = f"{manifest.process_id}/{deed.template}"
        if not stored.startswith("base64:"):
            problems.append(f"{where}: non è un documento DOCX")
            continue
        key = (hashlib.sha256(stored.encode()).hexdigest(), json.dumps(deed.fields, sort_keys=True, default=str))
        if render_sample and key in _rendered:
            continue
        try:
            validate_template(base64.b64decode(stored.removeprefix("base64:")), schema=deed.fields,
                              render_sample=render_sample)
        except TemplateRejected as exc:
            problems.append(f"{where}: {exc.message}")
        else:
            if render_sample:
                _rendered.add(key)
    return problems


def all_task_specs(specs: Any) -> Iterable[Any]:
    """Every task spec of a parsed model, (spec, subprocess_specs), subprocesses included."""
    return _task_specs(specs)
