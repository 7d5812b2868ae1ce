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
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from docxtpl import DocxTemplate
from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from .errors import RenderFailed, TemplateRejected

logger = logging.getLogger(__name__)

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# A DOCX is a ZIP: refuse archives that expand to far more than a deed ever needs
# (ZIP bombs) before any XML parser sees them.
MAX_DOCX_BYTES = 10 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 60 * 1024 * 1024
MAX_ENTRIES = 500
MAX_RATIO = 200

# Limits of one rendering: output size, wall time, iterations of range().
MAX_OUTPUT_CHARS = 20 * 1024 * 1024
MAX_RENDER_SECONDS = 10.0
MAX_RANGE_TOTAL = 100_000

# Names every template may use besides the procedure's data: filled in by the
# renderer for the seal block (documents/pipeline.py).
SEAL_NAMES = frozenset(
    {"sigillo_qr", "codice_verifica", "url_verifica", "firmatario", "ruolo_firmatario", "data_emissione", "stemma"}
)


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


class _BudgetedEnvironment(SandboxedEnvironment):
    """Sandbox that also stops runaway templates: a deadline, a cap on range()
    iterations and on string repetition."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline: float | None = None
        self.range_left = MAX_RANGE_TOTAL
        self.globals["range"] = self._range

    def start(self) -> None:
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        self.range_left = MAX_RANGE_TOTAL

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SecurityError("render time limit exceeded")

    def _range(self, *args: int) -> range:
        self.check_deadline()
        r = range(*args)
        self.range_left -= len(r)
        if self.range_left < 0:
            raise SecurityError("range limit exceeded")
        return r

    def call(self, __context, __obj, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.check_deadline()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj, attribute):  # type: ignore[no-untyped-def]
        self.check_deadline()
        return super().getattr(obj, attribute)

    def call_binop(self, context, operator, left, right):  # type: ignore[no-untyped-def]
        self.check_deadline()
        if operator == "**" and isinstance(right, int) and right > 100:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_OUTPUT_CHARS:
                    raise SecurityError("output limit exceeded")
        return super().call_binop(context, operator, left, right)


def _environment() -> _BudgetedEnvironment:
    return _BudgetedEnvironment(autoescape=False)


class _Template(DocxTemplate):
    """docxtpl rendering through our budgeted environment, streamed with an output cap."""

    def render_xml_part(self, src_xml, part, context, jinja_env=None):  # type: ignore[no-untyped-def]
        env: _BudgetedEnvironment = jinja_env  # always ours, see render_docx
        src_xml = re.sub(r"<w:p([ >])", r"\n<w:p\1", src_xml)
        self.current_rendering_part = part
        template = env.from_string(src_xml)
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise SecurityError("output limit exceeded")
            env.check_deadline()
            chunks.append(chunk)
        dst_xml = "".join(chunks)
        dst_xml = re.sub(r"\n<w:p([ >])", r"<w:p\1", dst_xml)
        dst_xml = dst_xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
        return self.resolve_listing(dst_xml)


@dataclass(frozen=True)
class TemplateReport:
    variables: frozenset[str]  # dotted paths used by the template


def _to_lines(patched_xml: str) -> list[str]:
    xml = re.sub(r"</w:p>", "\n", patched_xml)
    return re.sub(r"<[^>]+>", "", xml).split("\n")


def _plain_sources(tpl: DocxTemplate) -> list[tuple[str, list[str]]]:
    """Each part's Jinja source one paragraph per line, XML markup removed, so a
    syntax error can be shown as the text the author typed. Body, headers, footers."""
    parts = [(_("corpo del documento"), _to_lines(tpl.patch_xml(tpl.get_xml())))]
    for uri, label in ((tpl.HEADER_URI, _("intestazione")), (tpl.FOOTER_URI, _("piè di pagina"))):
        for _key, part in tpl.get_headers_footers(uri):
            parts.append((label, _to_lines(tpl.patch_xml(tpl.get_part_xml(part)))))
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


def _is_allowed(path: str, allowed: set[str], builtins: Iterable[str]) -> bool:
    head = path.split(".")[0].removesuffix("[]")
    if head in builtins:
        return True
    if path in allowed:
        return True
    # `loop.index`, filters' results, methods like `items`: the head decides
    return head == "loop"


def validate_template(data: bytes, *, schema: Mapping[str, Any]) -> TemplateReport:
    """Check a DOCX template at upload. Raises TemplateRejected naming the wrong fragment."""
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
    env = _environment()
    used: set[str] = set()
    for where, lines in sources:
        try:
            ast = env.parse("\n".join(lines))
        except TemplateSyntaxError as exc:
            line_no = exc.lineno or 1
            fragment = lines[line_no - 1].strip() if 0 < line_no <= len(lines) else ""
            logger.info("template refused: syntax error in %s at paragraph %s: %s", where, line_no, exc.message)
            raise TemplateRejected(
                _("Errore di sintassi nel modello (%(where)s) al paragrafo %(line)s: «%(fragment)s» (%(detail)s).")
                % {"where": where, "line": line_no, "fragment": fragment[:200], "detail": exc.message},
                code="template_syntax",
                details={"part": where, "line": line_no, "fragment": fragment[:200], "error": exc.message},
            ) from exc
        for child in ast.body:
            _collect(child, {}, used)
    allowed = _allowed_paths(schema) | set(SEAL_NAMES)
    builtins = set(env.globals) | set(SEAL_NAMES)
    unknown = sorted(p for p in used if not _is_allowed(p, allowed, builtins))
    if unknown:
        shown = ", ".join("{{ " + p.replace("[]", "") + " }}" for p in unknown)
        logger.info("template refused: unknown placeholders %s", unknown)
        raise TemplateRejected(
            _("Il modello usa segnaposto sconosciuti: %(names)s.") % {"names": shown},
            code="template_unknown_placeholder",
            details={"unknown": unknown},
        )
    return TemplateReport(variables=frozenset(used))


def render_docx(data: bytes, *, context: Mapping[str, Any], images: Mapping[str, tuple[bytes, float]] | None = None) -> bytes:
    """Fill a DOCX template. `images` maps a context name to (PNG bytes, width in mm)."""
    from docx.shared import Mm
    from docxtpl import InlineImage

    check_docx_archive(data)
    tpl = _Template(io.BytesIO(data))
    ctx = dict(context)
    for name, (png, width_mm) in (images or {}).items():
        ctx[name] = InlineImage(tpl, io.BytesIO(png), width=Mm(width_mm))
    env = _environment()
    env.start()
    try:
        tpl.render(ctx, jinja_env=env, autoescape=True)
        out = io.BytesIO()
        tpl.save(out)
    except SecurityError as exc:
        logger.warning("template rendering stopped: %s", exc)
        raise RenderFailed(
            _("Il modello supera i limiti di elaborazione (ciclo troppo lungo o testo troppo grande)."),
            code="template_limit",
        ) from exc
    except RecursionError as exc:
        logger.warning("template rendering stopped: recursion")
        raise RenderFailed(_("Il modello contiene una ricorsione senza fine."), code="template_limit") from exc
    except TemplateError as exc:
        logger.warning("template rendering failed: %s", exc)
        raise RenderFailed(_("Errore nella compilazione del modello: %(detail)s") % {"detail": exc},
                           code="template_error") from exc
    return out.getvalue()
