"""DOCX templates (docxtpl, Jinja tags): checks at upload and sandboxed rendering.

Syntax for template authors: `{{ richiedente.cognome }}` for a value,
`{% for c in componenti %}...{% endfor %}` for a loop (a table row loops with
`{%tr for ... %}`), `{% if ... %}...{% endif %}` for a condition. Names come
from the data schema of the procedure; any other name is refused at upload.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from docxtpl import DocxTemplate
from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError

from . import sandbox
from .errors import RenderFailed, TemplateRejected

logger = logging.getLogger(__name__)

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# A DOCX is a ZIP: refuse archives that expand to far more than a deed ever needs
# (ZIP bombs) before any XML parser sees them.
MAX_DOCX_BYTES = 10 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 60 * 1024 * 1024
MAX_ENTRIES = 500
MAX_RATIO = 200

# Names every template may use besides the procedure's data: filled in by the
# renderer for the seal block (documents/pipeline.py). `sigillo_qr` and `stemma` are images,
# placed by our code where the template writes them (documents/sandbox.py).
SEAL_NAMES = sandbox.SEAL_NAMES


def check_docx_archive(data: bytes) -> None:
    """Refuse what is not a sane DOCX archive (too big, corrupt, ZIP bomb)."""
    if len(data) > MAX_DOCX_BYTES:
        raise TemplateRejected(_("Il modello supera la dimensione massima di 10 MB."), code="too_large")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise TemplateRejected(_("Il file non è un documento DOCX valido."), code="not_docx") from exc
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise TemplateRejected(_("Il documento contiene troppi elementi."), code="zip_bomb")
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if total > MAX_UNCOMPRESSED_BYTES or (info.file_size > 1024 * 1024 and ratio > MAX_RATIO):
            raise TemplateRejected(
                _("Il documento DOCX si espande in modo anomalo (possibile «zip bomb»): rifiutato."),
                code="zip_bomb",
            )
    if "word/document.xml" not in archive.namelist():
        raise TemplateRejected(_("Il file non è un documento DOCX valido."), code="not_docx")


@dataclass(frozen=True)
class TemplateReport:
    variables: frozenset[str]  # dotted paths used by the template


def _to_lines(patched_xml: str) -> list[str]:
    xml = re.sub(r"</w:p>", "\n", patched_xml)
    return re.sub(r"<[^>]+>", "", xml).split("\n")


PART_LABELS = {
    "body": _lazy("corpo del documento"),
    "header": _lazy("intestazione"),
    "footer": _lazy("piè di pagina"),
    "footnotes": _lazy("note a piè di pagina"),
}
PROPERTY_LABELS = {
    "title": _lazy("titolo"), "subject": _lazy("oggetto"), "author": _lazy("autore"),
    "keywords": _lazy("parole chiave"), "comments": _lazy("commenti"), "category": _lazy("categoria"),
    "identifier": _lazy("identificativo"), "language": _lazy("lingua"), "content_status": _lazy("stato"),
    "version": _lazy("versione"), "last_modified_by": _lazy("autore dell'ultima modifica"),
}


def part_label(part: str) -> str:
    """Where in the DOCX, as a template author knows it ("intestazione", "proprietà «titolo»")."""
    if part.startswith("property:"):
        name = part.removeprefix("property:")
        return _("proprietà del documento «%(name)s»") % {"name": PROPERTY_LABELS.get(name, name)}
    return str(PART_LABELS.get(part, _("documento")))


def _plain_sources(tpl: DocxTemplate) -> list[tuple[str, list[str]]]:
    """Each part's Jinja source one paragraph per line, XML markup removed, so a syntax error
    can be shown as the text the author typed: every part docxtpl renders (sandbox._Template)."""
    parts = [("body", _to_lines(tpl.patch_xml(tpl.get_xml())))]
    for uri, where in ((tpl.HEADER_URI, "header"), (tpl.FOOTER_URI, "footer")):
        for _key, part in tpl.get_headers_footers(uri):
            parts.append((where, _to_lines(tpl.patch_xml(tpl.get_part_xml(part)))))
    for part in tpl.docx.part.package.parts:
        if part.content_type == sandbox.FOOTNOTES_TYPE:
            blob = part.blob.decode("utf-8") if isinstance(part.blob, bytes) else part.blob
            parts.append(("footnotes", _to_lines(tpl.patch_xml(blob))))
    props = tpl.docx.core_properties
    for name in sandbox.CORE_PROPERTIES:
        value = getattr(props, name)
        if isinstance(value, str) and value:
            parts.append((f"property:{name}", value.split("\n")))
    return parts


def _paths(node: nodes.Node) -> str | None:
    parts: list[str] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
        else:
            return None
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    parts.append(node.name)
    return ".".join(reversed(parts))


def _collect(node: nodes.Node, aliases: dict[str, str], out: set[str]) -> None:
    """Dotted paths the template reads, loop variables mapped back to the list they
    iterate (`c.nome` inside `for c in componenti` becomes `componenti[].nome`)."""
    if isinstance(node, nodes.For):
        _collect(node.iter, aliases, out)
        iter_path = _paths(node.iter)
        inner = dict(aliases)
        if iter_path is not None and isinstance(node.target, nodes.Name):
            head, _sep, rest = iter_path.partition(".")
            base = aliases.get(head, head)
            inner[node.target.name] = f"{base}.{rest}[]" if rest else f"{base}[]"
        elif isinstance(node.target, nodes.Tuple):
            for item in node.target.items:
                if isinstance(item, nodes.Name):
                    inner[item.name] = "*"
        for child in [*node.body, *node.else_]:
            _collect(child, inner, out)
        if node.test is not None:
            _collect(node.test, inner, out)
        return
    if isinstance(node, nodes.Assign | nodes.AssignBlock):
        if isinstance(node, nodes.Assign):
            _collect(node.node, aliases, out)
        target = node.target
        if isinstance(target, nodes.Name):
            aliases[target.name] = "*"
        if isinstance(node, nodes.AssignBlock):
            for child in node.body:
                _collect(child, aliases, out)
        return
    if isinstance(node, nodes.Macro):
        inner = dict(aliases)
        for arg in node.args:
            inner[arg.name] = "*"
        for child in node.body:
            _collect(child, inner, out)
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name) and isinstance(
        getattr(node, "ctx", "load"), str
    ):
        path = _paths(node)
        if path is not None and getattr(node, "ctx", "load") == "load":
            head, _sep, rest = path.partition(".")
            base = aliases.get(head, head)
            if base != "*":
                out.add(f"{base}.{rest}" if rest else base)
            return
    for child in node.iter_child_nodes():
        _collect(child, aliases, out)


def _allowed_paths(schema: Mapping[str, Any], prefix: str = "") -> set[str]:
    """A data schema is a nested mapping: {"richiedente": {"nome": None}, "componenti": [{"nome": None}]}."""
    allowed: set[str] = set()
    for key, value in schema.items():
        path = f"{prefix}{key}"
        allowed.add(path)
        if isinstance(value, Mapping):
            allowed |= _allowed_paths(value, path + ".")
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            allowed.add(path + "[]")
            allowed |= _allowed_paths(value[0], path + "[].")
        elif isinstance(value, list):
            allowed.add(path + "[]")
    return allowed


def _is_allowed(path: str, allowed: set[str]) -> bool:
    """A path the procedure's data defines, a seal name (as such: never `sigillo_qr.something`),
    a loop counter, or `range`. Nothing is allowed because of its first name alone."""
    if path in allowed or path in sandbox.GLOBALS:
        return True
    head, _sep, rest = path.partition(".")
    return head == "loop" and rest in sandbox.LOOP_ATTRIBUTES


def _sample_data(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Data shaped like the procedure's (two rows for each list) to render a template at upload."""
    def value(spec: Any, name: str) -> Any:
        if isinstance(spec, Mapping):
            return {k: value(v, k) for k, v in spec.items()}
        if isinstance(spec, list):
            return [value(spec[0] if spec else None, name) for _i in range(2)]
        return f"Esempio {name}"
    return {k: value(v, k) for k, v in schema.items()}


def _sample_seal() -> dict[str, Any]:
    return {"codice_verifica": "ESEMPIO", "url_verifica": "https://example.invalid/verifica/ESEMPIO",
            "firmatario": "Esempio", "ruolo_firmatario": "Esempio", "data_emissione": "01/01/2026"}


def render_limits() -> sandbox.Limits:
    return sandbox.Limits(
        wall_seconds=float(getattr(settings, "PROCEDO_TEMPLATE_RENDER_SECONDS", 30)),
        cpu_seconds=int(getattr(settings, "PROCEDO_TEMPLATE_RENDER_CPU_SECONDS", 20)),
        memory_bytes=int(getattr(settings, "PROCEDO_TEMPLATE_RENDER_MEMORY_MB", 768)) * 1024 * 1024,
    )


def _refusal_message(exc: sandbox.Refused) -> tuple[str, str]:
    """(Italian sentence, machine code) for a rendering that did not complete."""
    where = part_label(exc.part) if exc.part else _("documento")
    fragment = f" «{exc.fragment}»" if exc.fragment else ""
    if exc.kind == "forbidden":
        return (_("Il modello (%(where)s) usa un'espressione non consentita%(fragment)s: un modello può leggere "
                  "solo i dati della pratica e i filtri ammessi.") % {"where": where, "fragment": fragment},
                "template_forbidden")
    if exc.kind == "unknown":
        shown = ", ".join("{{ " + name + " }}" for name in exc.detail.split(", "))
        return (_("Il modello (%(where)s) usa segnaposto che non fanno parte dei dati della pratica: %(names)s.")
                % {"where": where, "names": shown}, "template_unknown_placeholder")
    if exc.kind == "limit":
        return (_("Il modello (%(where)s) richiede troppo tempo o troppa memoria per essere compilato ed è stato "
                  "interrotto%(fragment)s (cicli troppo lunghi, testo troppo grande o ricorsione senza fine).")
                % {"where": where, "fragment": fragment}, "template_limit")
    if exc.kind == "syntax":
        return (_("Errore di sintassi nel modello (%(where)s)%(fragment)s: %(detail)s")
                % {"where": where, "fragment": fragment, "detail": exc.detail}, "template_syntax")
    return (_("Errore nella compilazione del modello (%(where)s)%(fragment)s: %(detail)s")
            % {"where": where, "fragment": fragment, "detail": exc.detail}, "template_error")


def validate_template(data: bytes, *, schema: Mapping[str, Any], render_sample: bool = True) -> TemplateReport:
    """Check a DOCX template at upload: syntax, names, filters and statements of every part
    docxtpl renders, then a rendering of the whole document with sample data in the same
    sandbox and limits as a real deed. Raises TemplateRejected naming the part and fragment.

    `render_sample=False` keeps to the checks done in this process (Django's system checks,
    which run at every start of a web or worker process, must not start render processes)."""
    check_docx_archive(data)
    try:
        tpl = DocxTemplate(io.BytesIO(data))
        tpl.init_docx()
        sources = _plain_sources(tpl)
    except TemplateRejected:
        raise
    except Exception as exc:  # python-docx raises many kinds on a broken package
        logger.warning("template refused: unreadable DOCX: %s", exc)
        raise TemplateRejected(_("Il file non è un documento DOCX leggibile."), code="not_docx") from exc
    env = sandbox.SafeEnvironment()
    allowed = _allowed_paths(schema) | set(SEAL_NAMES)
    used: set[str] = set()
    for where, lines in sources:
        label = part_label(where)
        try:
            ast = env.parse("\n".join(lines))
        except TemplateSyntaxError as exc:
            line_no = exc.lineno or 1
            fragment = lines[line_no - 1].strip() if 0 < line_no <= len(lines) else ""
            logger.info("template refused: syntax error in %s at paragraph %s: %s", where, line_no, exc.message)
            raise TemplateRejected(
                _("Errore di sintassi nel modello (%(where)s) al paragrafo %(line)s: «%(fragment)s» (%(detail)s).")
                % {"where": label, "line": line_no, "fragment": fragment[:200], "detail": exc.message},
                code="template_syntax",
                details={"part": label, "line": line_no, "fragment": fragment[:200], "error": exc.message},
            ) from exc
        forbidden = sandbox.forbidden_constructs(ast, env)
        if forbidden:
            logger.info("template refused: forbidden constructs in %s: %s", where, forbidden)
            raise TemplateRejected(
                _("Il modello (%(where)s) usa filtri o istruzioni non consentiti: %(names)s.")
                % {"where": label, "names": ", ".join(forbidden)},
                code="template_forbidden", details={"part": label, "forbidden": forbidden},
            )
        part_used: set[str] = set()
        for child in ast.body:
            _collect(child, {}, part_used)
        unknown = sorted(p for p in part_used if not _is_allowed(p, allowed))
        if unknown:
            shown = ", ".join("{{ " + p.replace("[]", "") + " }}" for p in unknown)
            logger.info("template refused: unknown placeholders in %s: %s", where, unknown)
            raise TemplateRejected(
                _("Il modello usa segnaposto sconosciuti: %(names)s (%(where)s).") % {"names": shown, "where": label},
                code="template_unknown_placeholder",
                details={"unknown": unknown, "part": label},
            )
        used |= part_used
    if not render_sample:
        return TemplateReport(variables=frozenset(used))
    context = {**_sample_data(schema), **_sample_seal()}
    images = {"sigillo_qr": (_SAMPLE_PNG, 20), "stemma": (_SAMPLE_PNG, 10)}
    try:
        sandbox.render_isolated(data, context=context, images=images, limits=render_limits())
    except sandbox.Refused as exc:
        if exc.kind == "error":  # fails on sample values (a number expected...): real data decides
            logger.info("template accepted although the sample rendering failed: %s", exc)
        else:
            message, code = _refusal_message(exc)
            logger.info("template refused: sample rendering: %s", exc)
            raise TemplateRejected(message, code=code, details={
                "part": part_label(exc.part) if exc.part else "", "fragment": exc.fragment}) from exc
    return TemplateReport(variables=frozenset(used))


# A 1x1 transparent PNG: the images of the sample rendering (its IDAT chunk's length must match
# its data, or python-docx cannot read it and the sample rendering never reaches the end).
_SAMPLE_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)


def render_docx(data: bytes, *, context: Mapping[str, Any], images: Mapping[str, tuple[bytes, float]] | None = None) -> bytes:
    """Fill a DOCX template in the sandbox, in a child process with hard limits.

    `images` maps a context name to (PNG bytes, width in mm); the template writes `{{ name }}`.
    A template stored before these checks existed is held to them here all the same."""
    check_docx_archive(data)
    try:
        return sandbox.render_isolated(data, context=context, images=images, limits=render_limits())
    except sandbox.Refused as exc:
        message, code = _refusal_message(exc)
        logger.warning("template rendering stopped: %s", exc)
        raise RenderFailed(message, code=code) from exc


# ---------------------------------------------------------------- shipped templates
# A procedure ships its deeds in its folder (processes/<id>/deeds/, declared under `deeds:` in its
# manifest): the DOCX, the field list it may use and the data mapping. Older versions kept a
# template as processes/<id>/templates/<name>.docx, without a field list.


@dataclass(frozen=True)
class ShippedTemplate:
    name: str
    title: str
    process_id: str
    fields: Mapping[str, Any]
    data: bytes = field(repr=False, default=b"")


def _stored_bytes(stored: Any) -> bytes | None:
    import base64

    if isinstance(stored, str) and stored.startswith("base64:"):
        return base64.b64decode(stored.removeprefix("base64:"))
    return None


def version_template(version: Any, name: str) -> bytes | None:
    """The template `name` of a published process version (a running case keeps the wording it
    started with): the deed the manifest declares, else the older templates/<name>.docx."""
    from engine.bundles import version_files
    from engine.manifest import manifest_of

    files = version_files(version)
    deed = manifest_of(version).deeds.get(name)
    if deed is not None:
        data = _stored_bytes(files.get(deed.template))
        if data is not None:
            return data
    return _stored_bytes(files.get(f"templates/{name}.docx"))


def _processes_dir() -> Any:
    from pathlib import Path

    return Path(settings.PROCEDO_PROCESSES_DIR)


def shipped_templates() -> dict[str, ShippedTemplate]:
    """Every deed the procedures on disk declare, by name (the first procedure declaring a name wins)."""
    from engine.bundles import read_bundle
    from engine.manifest import Manifest

    found: dict[str, ShippedTemplate] = {}
    root = _processes_dir()
    if not root.is_dir():
        return found
    for folder in sorted(p for p in root.iterdir() if (p / "manifest.yaml").is_file()):
        bundle = read_bundle(folder)
        if not isinstance(bundle.manifest, dict) or not bundle.manifest.get("deeds"):
            continue
        # Only the deeds are read here: the model is not parsed (sync_processes checks the rest).
        files = {k: v for k, v in bundle.files.items() if not k.endswith((".bpmn", ".dmn"))}
        for deed in Manifest.parse(folder.name, bundle.manifest, files).deeds.values():
            found.setdefault(deed.name, ShippedTemplate(name=deed.name, title=deed.title, process_id=folder.name,
                                                        fields=deed.fields,
                                                        data=_stored_bytes(bundle.files[deed.template]) or b""))
    return found


def shipped_template(name: str, process_id: str | None = None) -> bytes | None:
    """The DOCX of deed `name` as shipped in the procedure folder on disk (`process_id`'s, else
    any procedure's). `name` is a plain name (the caller refuses paths)."""
    shipped = shipped_templates().get(name)
    if process_id and (shipped is None or shipped.process_id != process_id):
        legacy = _processes_dir() / process_id / "templates" / f"{name}.docx"
        if legacy.is_file():
            return legacy.read_bytes()
    return shipped.data if shipped is not None else None


# Public names of the placeholder analysis the studio's template check shares with the upload check.
def template_plain_sources(tpl: DocxTemplate) -> list[tuple[str, list[str]]]:
    """Each part's Jinja source, one paragraph per line, markup removed (as the author typed it)."""
    return _plain_sources(tpl)


def template_paths_read(node: nodes.Node) -> set[str]:
    """Dotted paths a parsed Jinja template reads (loop variables mapped back to their lists)."""
    used: set[str] = set()
    _collect(node, {}, used)
    return used


def data_schema_paths(schema: Mapping[str, Any]) -> set[str]:
    """Every path a deed's data schema defines (`a.b`, `list[]`, `list[].c`)."""
    return _allowed_paths(schema)


def template_path_allowed(path: str, allowed: set[str]) -> bool:
    """Whether a template may read `path` given the allowed paths (seal names, loop counters included)."""
    return _is_allowed(path, allowed)
