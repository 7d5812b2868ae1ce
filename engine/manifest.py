"""What a procedure's manifest.yaml declares about access: who may open a case and through which
channel, which messages a person may deliver, which steps a citizen sees.

Kept apart from the BPMN/expression checks of `bundles.py`: these rules are about people, and
`cases` reads them on every start, message delivery and public view. Every accessor fails
closed: a manifest (or a version stored before these keys existed) that declares nothing lets
nobody start it, and lets no person deliver any message.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from lxml import etree

from accounts.roles import Role

# platform: only the system opens it (a national platform's request, e.g. the ANPR poller);
# counter: staff record a request received at the desk, by PEC or on paper;
# portal: a citizen files it online for themselves.
CHANNELS = frozenset({"platform", "counter", "portal"})
# Who may be named in `starters`: read-only viewers and process administrators never open cases.
STARTER_ROLES = frozenset({Role.REGISTRAR, Role.CIVIL_REGISTRAR, Role.POLICE, Role.SUPERVISOR, Role.CITIZEN})
# Who may be named as a deliverer of a message (`messages`).
DELIVERER_ROLES = STARTER_ROLES
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    return None


def manifest_channels(manifest: dict[str, Any]) -> frozenset[str]:
    return frozenset(c for c in (_as_list(manifest.get("channel")) or []) if c in CHANNELS)


def manifest_starters(manifest: dict[str, Any]) -> frozenset[str]:
    return frozenset(r for r in (_as_list(manifest.get("starters")) or []) if r in STARTER_ROLES)


def manifest_message_roles(manifest: dict[str, Any], message: str) -> frozenset[str]:
    """Roles whose holders may deliver `message` to a case; empty: only the system delivers it."""
    declared = manifest.get("messages")
    if not isinstance(declared, dict):
        return frozenset()
    return frozenset(r for r in (_as_list(declared.get(message)) or []) if r in DELIVERER_ROLES)


def manifest_public_milestones(manifest: dict[str, Any], files: dict[str, str]) -> list[tuple[str, str]]:
    """(BPMN element id, the Italian label a citizen sees once the case reaches it), in the order
    the elements appear in the model: the stored manifest is JSONB, whose keys lose their order."""
    declared = manifest.get("public_milestones")
    if not isinstance(declared, dict):
        return []
    bpmn = tuple(text for name, text in sorted(files.items()) if name.endswith(".bpmn"))
    order = _element_order(bpmn)
    pairs = [(str(k), str(v)) for k, v in declared.items() if isinstance(v, str)]
    return sorted(pairs, key=lambda pair: order.get(pair[0], len(order)))


@lru_cache(maxsize=64)
def _element_order(bpmn: tuple[str, ...]) -> dict[str, int]:
    """Element id -> position in the models' XML (versions are immutable: cached on their text)."""
    order: dict[str, int] = {}
    for text in bpmn:
        root = etree.fromstring(text.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
        for element in root.iter():
            if isinstance(element.tag, str) and element.get("id"):
                order.setdefault(element.get("id"), len(order))
    return order


def _bpmn_ids_and_messages(files: dict[str, str]) -> tuple[set[str], set[str]]:
    ids: set[str] = set()
    messages: set[str] = set()
    for name, text in files.items():
        if not name.endswith(".bpmn"):
            continue
        root = etree.fromstring(text.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
        ids.update(e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id"))
        messages.update(m.get("name") or m.get("id") for m in root.iter(f"{{{BPMN_NS}}}message"))
    return ids, messages


def manifest_problems(process_id: str, manifest: dict[str, Any], files: dict[str, str]) -> list[str]:
    """Access declarations of the manifest that are missing or wrong, each naming the file."""
    where = f"{process_id}/manifest.yaml"
    problems: list[str] = []
    channels = _as_list(manifest.get("channel"))
    starters = _as_list(manifest.get("starters"))
    known_channels = ", ".join(sorted(CHANNELS))
    known_roles = ", ".join(sorted(STARTER_ROLES))
    if not channels:
        problems.append(f"{where}: manca 'channel' (come si apre una pratica: {known_channels})")
        channels = []
    for channel in channels:
        if channel not in CHANNELS:
            problems.append(f"{where}: canale sconosciuto '{channel}' in 'channel' (ammessi: {known_channels})")
    if starters is None:
        problems.append(f"{where}: manca 'starters' (i ruoli che possono aprire una pratica: {known_roles}; "
                        f"[] se la apre solo il sistema)")
        starters = []
    for role in starters:
        if role not in STARTER_ROLES:
            problems.append(f"{where}: ruolo sconosciuto o non ammesso '{role}' in 'starters' (ammessi: {known_roles})")
    if channels and set(channels) <= {"platform"} and starters:
        problems.append(f"{where}: un procedimento con channel 'platform' lo apre solo il sistema: "
                        f"'starters' deve essere []")
    if Role.CITIZEN in starters and "portal" not in channels:
        problems.append(f"{where}: 'citizen' in 'starters' richiede il canale 'portal'")
    if "portal" in channels and Role.CITIZEN not in starters:
        problems.append(f"{where}: il canale 'portal' richiede 'citizen' in 'starters'")
    if "portal" in channels and not manifest.get("subjects_path"):
        # A citizen files only as one of the subjects: without them nobody could ever file it.
        problems.append(f"{where}: il canale 'portal' richiede 'subjects_path' (chi presenta la domanda)")
    staff = [r for r in starters if r in STARTER_ROLES and r != Role.CITIZEN]
    if staff and "counter" not in channels:
        problems.append(f"{where}: i ruoli {', '.join(staff)} in 'starters' richiedono il canale 'counter'")
    if "counter" in channels and not staff:
        problems.append(f"{where}: il canale 'counter' richiede almeno un ruolo d'ufficio in 'starters'")
    if not manifest.get("start_form"):
        problems.append(f"{where}: manca 'start_form' (ogni procedimento ha lo schema dei dati di avvio)")

    try:
        ids, message_names = _bpmn_ids_and_messages(files)
    except etree.XMLSyntaxError:
        return problems  # reported by the XML check of the bundle
    messages = manifest.get("messages") or {}
    if not isinstance(messages, dict):
        problems.append(f"{where}: 'messages' deve associare a ogni messaggio i ruoli che possono consegnarlo")
        messages = {}
    for name, roles in messages.items():
        if name not in message_names:
            problems.append(f"{where}: il messaggio '{name}' in 'messages' non esiste nel modello "
                            f"(messaggi del BPMN: {', '.join(sorted(message_names)) or 'nessuno'})")
        role_list = _as_list(roles)
        if not role_list:
            problems.append(f"{where}: il messaggio '{name}' in 'messages' non indica i ruoli che possono consegnarlo")
            continue
        for role in role_list:
            if role not in DELIVERER_ROLES:
                problems.append(f"{where}: ruolo sconosciuto o non ammesso '{role}' per il messaggio '{name}' "
                                f"(ammessi: {known_roles})")
    milestones = manifest.get("public_milestones") or {}
    if not isinstance(milestones, dict):
        problems.append(f"{where}: 'public_milestones' deve associare a un elemento del BPMN un'etichetta")
        milestones = {}
    for element, label in milestones.items():
        if element not in ids:
            problems.append(f"{where}: l'elemento '{element}' in 'public_milestones' non esiste nel modello")
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{where}: l'elemento '{element}' in 'public_milestones' non ha un'etichetta")
    return problems
