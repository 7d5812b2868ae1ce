"""Rendering a DOCX template where the template can reach nothing but its data.

A template is code written by a municipality's supervisor (or shipped in a process bundle):
it is rendered

- through ONE Jinja environment, `SafeEnvironment` (an `ImmutableSandboxedEnvironment` that
  allows instead of forbidding): no globals but a budgeted `range`, an allow-list of filters
  and tests, attribute access only to the keys of plain dicts and a few loop counters, item
  access only on dicts/lists/strings, calls only to the template's own macros;
- on plain data only (`plain_data`): the QR code and the coat of arms are not objects in the
  context but marker strings, replaced by the image after rendering by our code;
- for every part docxtpl renders (body, headers, footers, core properties, footnotes), see
  `_Template.render`, which mirrors docxtpl 0.20.2's `DocxTemplate.render`;
- in a child process forked from a pre-warmed fork server, under RLIMIT_CPU and RLIMIT_AS and
  a wall-clock limit after which the parent kills it (`render_isolated`).

This module must not import Django: it is preloaded by the fork server. The caller
(documents/templates.py) turns `Refused` into Italian messages.
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import multiprocessing
import os
import re
import resource
import secrets
import signal
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.context import set_spawning_popen
from typing import Any

from docx.shared import Mm
from docxtpl import DocxTemplate
from jinja2 import TemplateError, Undefined, meta, nodes
from jinja2 import defaults as jinja_defaults
from jinja2.exceptions import SecurityError, TemplateAssertionError, TemplateSyntaxError
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Limits inside one rendering (a runaway template is also stopped by the process limits).
MAX_OUTPUT_CHARS = 20 * 1024 * 1024
MAX_RANGE_TOTAL = 100_000

ALLOWED_FILTERS = frozenset({
    "abs", "batch", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
    "groupby", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
    "rejectattr", "replace", "reverse", "round", "select", "selectattr", "slice", "sort", "string", "sum",
    "title", "trim", "truncate", "unique", "upper", "wordcount",
})
ALLOWED_TESTS = frozenset({
    "boolean", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "float", "ge", "greaterthan",
    "gt", "in", "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping", "ne", "none", "number", "odd",
    "sequence", "string", "true", "undefined", "upper",
})
# Plain counters of a for loop; `loop.cycle`, `loop.changed` and `loop(...)` are calls, refused.
LOOP_ATTRIBUTES = frozenset({
    "index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0", "previtem", "nextitem",
})
GLOBALS = frozenset({"range"})
# The seal block's names (documents/pipeline.py): always known, empty when not given.
SEAL_NAMES = frozenset(
    {"sigillo_qr", "codice_verifica", "url_verifica", "firmatario", "ruolo_firmatario", "data_emissione", "stemma"}
)
FORBIDDEN_NODES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)

# Core properties rendered (docxtpl renders author, comments, identifier, language, subject,
# title; the others are rendered too so that none keeps Jinja code unchecked).
CORE_PROPERTIES = ("title", "subject", "author", "keywords", "comments", "category", "identifier", "language",
                   "content_status", "version", "last_modified_by")

FOOTNOTES_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 30.0
    cpu_seconds: int = 20
    memory_bytes: int = 768 * 1024 * 1024


class Refused(Exception):
    """A rendering that did not complete. kind: forbidden (sandbox refused an access),
    unknown (reads a name that is not data), limit (time, memory, size, recursion),
    syntax (does not compile), error (failed on the data)."""

    def __init__(self, kind: str, *, part: str = "", fragment: str = "", detail: str = "") -> None:
        super().__init__(kind, part, fragment, detail)
        self.kind, self.part, self.fragment, self.detail = kind, part, fragment, detail

    def __str__(self) -> str:
        return f"{self.kind} in {self.part or '?'}: {self.detail} [{self.fragment}]"


def plain_data(value: Any, *, depth: int = 0) -> Any:
    """The render context as plain data: dicts with string keys, lists, strings, numbers,
    booleans, None, dates. Anything else becomes its string (never an object with methods)."""
    if depth > 32:
        raise ValueError("render data nested too deeply")
    if value is None or isinstance(value, bool | int | float | str | decimal.Decimal | dt.date):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain_data(v, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v, depth=depth + 1) for v in value]
    return str(value)


class SafeEnvironment(ImmutableSandboxedEnvironment):
    """Allow-list sandbox with a render budget (deadline, range() total, repetition size)."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *, deadline_seconds: float = 10.0, autoescape: bool = True) -> None:
        super().__init__(autoescape=autoescape, loader=None)
        self.filters = {k: v for k, v in jinja_defaults.DEFAULT_FILTERS.items() if k in ALLOWED_FILTERS}
        self.tests = {k: v for k, v in jinja_defaults.DEFAULT_TESTS.items() if k in ALLOWED_TESTS}
        self.globals = {"range": self._range}
        self.deadline_seconds = deadline_seconds
        self.deadline: float | None = None
        self.range_left = MAX_RANGE_TOTAL

    def start(self) -> None:
        self.deadline = time.monotonic() + self.deadline_seconds
        self.range_left = MAX_RANGE_TOTAL

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _LimitExceeded("render time limit exceeded")

    def _range(self, *args: int) -> range:
        self.check_deadline()
        r = range(*args)
        self.range_left -= len(r)
        if self.range_left < 0:
            raise _LimitExceeded("range limit exceeded")
        return r

    # --- the allow-list -------------------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False  # everything goes through getattr/getitem below

    def getattr(self, obj: Any, attribute: str) -> Any:  # type: ignore[override]
        self.check_deadline()
        if isinstance(obj, dict):
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, LoopContext) and attribute in LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        if isinstance(obj, Undefined):
            return obj._fail_with_undefined_error()
        raise SecurityError(f"attribute {attribute!r} of a {type(obj).__name__} is not accessible")

    def getitem(self, obj: Any, argument: Any) -> Any:  # type: ignore[override]
        self.check_deadline()
        if isinstance(obj, dict):
            try:
                if argument in obj:
                    return obj[argument]
            except TypeError:  # unhashable key
                pass
            return self.undefined(obj=obj, name=str(argument))
        if isinstance(obj, list | tuple | str) and isinstance(argument, int | slice) and not isinstance(argument, bool):
            try:
                return obj[argument]
            except (IndexError, TypeError, ValueError):
                return self.undefined(obj=obj, name=str(argument))
        if isinstance(obj, Undefined):
            return obj._fail_with_undefined_error()
        raise SecurityError(f"item {argument!r} of a {type(obj).__name__} is not accessible")

    def call(__self, __context, __obj, *args, **kwargs):  # type: ignore[no-untyped-def]  # noqa: N805
        __self.check_deadline()
        if not (getattr(__obj, "__func__", None) is SafeEnvironment._range or isinstance(__obj, Macro)):
            raise SecurityError(f"calling a {type(__obj).__name__} is not allowed")
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context, operator, left, right):  # type: ignore[no-untyped-def]
        self.check_deadline()
        if operator == "**" and isinstance(right, int) and right > 100:
            raise _LimitExceeded("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_OUTPUT_CHARS:
                    raise _LimitExceeded("output limit exceeded")
        if operator == "%" and isinstance(left, str) and re.search(r"%[^a-zA-Z%]*(\d{5,}|\*)", left):
            raise _LimitExceeded("format width too large")
        return super().call_binop(context, operator, left, right)


class _LimitExceeded(SecurityError):
    """A budget of one rendering is used up (not an escape attempt)."""


def forbidden_constructs(ast: nodes.Template, env: SafeEnvironment) -> list[str]:
    """Filters, tests and statements a template may not use, as the template spells them."""
    found: list[str] = []
    for node in ast.find_all((nodes.Filter, nodes.Test, *FORBIDDEN_NODES)):
        if isinstance(node, nodes.Filter) and node.name not in env.filters:
            found.append(f"|{node.name}")
        elif isinstance(node, nodes.Test) and node.name not in env.tests:
            found.append(f"is {node.name}")
        elif isinstance(node, FORBIDDEN_NODES):
            found.append("{% " + type(node).__name__.lower() + " %}")
    return sorted(set(found))


# --- rendering every part --------------------------------------------------------------------


def _image_marker(nonce: str, name: str) -> str:
    return f"\u27e6procedo-image:{nonce}:{name}\u27e7"


def _template_line(exc: BaseException) -> int | None:
    """Line of the template source where a runtime error happened (Jinja rewrites the
    traceback so that template frames carry template line numbers)."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<template>":
            line = lineno
    return getattr(exc, "lineno", None) or line


def _fragment(source: str, line: int | None) -> str:
    if not line:
        return ""
    lines = source.splitlines()
    if not 0 < line <= len(lines):
        return ""
    return re.sub(r"<[^>]+>", "", lines[line - 1]).strip()[:200]


class _Template(DocxTemplate):
    """docxtpl's rendering, every part through our one environment, images by marker."""

    def __init__(self, data: bytes, env: SafeEnvironment, images: Mapping[str, tuple[bytes, float]],
                 nonce: str, on_part: Callable[[str], None] | None = None) -> None:
        super().__init__(io.BytesIO(data))
        self._on_part = on_part
        self._env = env
        self._images = dict(images)
        self._nonce = nonce
        self._where = "body"
        self._known_names = frozenset({*GLOBALS, *images, *SEAL_NAMES, "loop", "caller", "varargs", "kwargs"})

    def _enter(self, where: str) -> None:
        self._where = where
        if self._on_part is not None:
            self._on_part(where)  # the parent names this part if it has to kill us

    def _failed(self, exc: BaseException, source: str) -> Refused:
        fragment = _fragment(source, _template_line(exc))
        if isinstance(exc, _LimitExceeded):
            return Refused("limit", part=self._where, fragment=fragment, detail=str(exc))
        if isinstance(exc, SecurityError):
            return Refused("forbidden", part=self._where, fragment=fragment, detail=str(exc))
        if isinstance(exc, RecursionError):
            return Refused("limit", part=self._where, fragment=fragment, detail="recursion")
        if isinstance(exc, MemoryError):
            return Refused("limit", part=self._where, fragment=fragment, detail="memory")
        if isinstance(exc, TemplateSyntaxError | TemplateAssertionError):
            return Refused("syntax", part=self._where, fragment=fragment, detail=getattr(exc, "message", "") or str(exc))
        return Refused("error", part=self._where, fragment=fragment, detail=f"{type(exc).__name__}: {exc}"[:500])

    def _render_source(self, source: str, context: Mapping[str, Any], env: SafeEnvironment) -> str:
        try:
            # A name the template reads is data of this deed (or a seal name): `config`,
            # `request`, `lipsum`, `namespace`... are refused, not rendered empty.
            unknown = sorted(meta.find_undeclared_variables(env.parse(source))
                             - set(context) - self._known_names)
            if unknown:
                raise Refused("unknown", part=self._where, detail=", ".join(unknown))
            template = env.from_string(source)
            chunks: list[str] = []
            size = 0
            for chunk in template.generate(context):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise _LimitExceeded("output limit exceeded")
                env.check_deadline()
                chunks.append(chunk)
        except Refused:
            raise
        except (Exception, RecursionError, MemoryError) as exc:
            raise self._failed(exc, source) from exc
        return "".join(chunks)

    def _place_images(self, xml: str, part: Any) -> str:
        for name, (blob, width_mm) in self._images.items():
            marker = _image_marker(self._nonce, name)
            if marker not in xml:
                continue
            if hasattr(part, "new_pic_inline"):
                # only where the marker is text of a run (as docxtpl's InlineImage assumes)
                pattern = re.compile(r"(<w:t(?:\s[^>]*)?>[^<]*?)" + re.escape(marker))
                while True:
                    inline = part.new_pic_inline(io.BytesIO(blob), Mm(width_mm), None).xml
                    run = f'</w:t></w:r><w:r><w:drawing>{inline}</w:drawing></w:r><w:r><w:t xml:space="preserve">'
                    xml, n = pattern.subn(lambda m, run=run: m.group(1) + run, xml, count=1)
                    if not n:
                        break
            xml = xml.replace(marker, "")
        return xml

    def render_xml_part(self, src_xml, part, context, jinja_env=None):  # type: ignore[no-untyped-def]
        src_xml = re.sub(r"<w:p([ >])", r"\n<w:p\1", src_xml)
        self.current_rendering_part = part
        dst_xml = self._render_source(src_xml, context, self._env)
        dst_xml = re.sub(r"\n<w:p([ >])", r"<w:p\1", dst_xml)
        dst_xml = dst_xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
        dst_xml = self._place_images(dst_xml, part)
        return self.resolve_listing(dst_xml)

    def render_properties(self, context, jinja_env=None):  # type: ignore[no-untyped-def]
        env = self._env.overlay(autoescape=False)  # same sandbox; a property is text, not XML
        props = self.docx.core_properties
        for prop in CORE_PROPERTIES:
            initial = getattr(props, prop)
            if not isinstance(initial, str) or not initial:
                continue
            self._enter(f"property:{prop}")
            rendered = self._render_source(initial, context, env)
            for name in self._images:
                rendered = rendered.replace(_image_marker(self._nonce, name), "")
            setattr(props, prop, rendered[:255])

    def render_footnotes(self, context, jinja_env=None):  # type: ignore[no-untyped-def]
        # once per footnotes part (docxtpl renders it once per section: data would be rendered
        # again as template code in a document with two sections)
        self._enter("footnotes")
        for part in self.docx.part.package.parts:
            if part.content_type == FOOTNOTES_TYPE:
                blob = part.blob.decode("utf-8") if isinstance(part.blob, bytes) else part.blob
                xml = self.render_xml_part(self.patch_xml(blob), part, context)
                part._blob = xml.encode("utf-8")

    def render(self, context, jinja_env=None, autoescape=False):  # type: ignore[no-untyped-def]
        # docxtpl 0.20.2 DocxTemplate.render, with the part being rendered recorded
        self.render_init()
        self._enter("body")
        tree = self.fix_tables(self.build_xml(context))
        self.fix_docpr_ids(tree)
        self.map_tree(tree)
        for uri, where in ((self.HEADER_URI, "header"), (self.FOOTER_URI, "footer")):
            self._enter(where)
            for rel_key, xml in list(self.build_headers_footers_xml(context, uri)):
                self.map_headers_footers_xml(rel_key, xml)
        self.render_properties(context)
        self.render_footnotes(context)
        self.is_rendered = True


def render(data: bytes, *, context: Mapping[str, Any], images: Mapping[str, tuple[bytes, float]] | None = None,
           deadline_seconds: float = 10.0, on_part: Callable[[str], None] | None = None) -> bytes:
    """Fill a DOCX template in this process (no process limits: see render_isolated).

    `images` maps a context name to (PNG bytes, width in mm): the template writes `{{ name }}`."""
    env = SafeEnvironment(deadline_seconds=deadline_seconds)
    nonce = secrets.token_hex(8)
    images = dict(images or {})
    ctx = plain_data(dict(context))
    for name in images:
        ctx[name] = _image_marker(nonce, name)
    tpl = _Template(data, env, images, nonce, on_part)
    env.start()
    try:
        tpl.render(ctx)
        out = io.BytesIO()
        tpl.save(out)
    except Refused:
        raise
    except (RecursionError, MemoryError) as exc:
        raise Refused("limit", part=tpl._where, detail=type(exc).__name__) from exc
    except TemplateError as exc:
        raise tpl._failed(exc, "") from exc
    except Exception as exc:  # a broken part python-docx/lxml cannot handle
        raise Refused("error", part=tpl._where, detail=f"{type(exc).__name__}: {exc}"[:500]) from exc
    return out.getvalue()


def warm_up() -> None:
    import docx

    doc = docx.Document()
    doc.add_paragraph("{{ a }} {% for b in c %}{{ b }}{% endfor %}")
    doc.sections[0].header.paragraphs[0].text = "{{ a }}"
    buf = io.BytesIO()
    doc.save(buf)
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")
    render(buf.getvalue(), context={"a": "x", "c": ["y"]}, images={"i": (png, 10)})


# --- the child process -------------------------------------------------------------------------

_context: multiprocessing.context.BaseContext | None = None


def _mp_context() -> multiprocessing.context.BaseContext:
    """A fork server that has already imported docxtpl, python-docx, lxml and Jinja: each
    rendering forks from it (a few ms) instead of starting Python (about a second)."""
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        current = [m for m in getattr(forkserver._forkserver, "_preload_modules", []) if m != "__main__"]
        # The server imports this module and warms it up; it does so only when the project is
        # importable from its working directory (as for manage.py, celery -A config, gunicorn),
        # otherwise each child imports it (correct, about half a second slower).
        wanted = [__name__, f"{__package__}.sandbox_warmup"]
        ctx.set_forkserver_preload([*current, *(m for m in wanted if m not in current)])
        _context = ctx
    return _context


class _RenderPopen(popen_forkserver.Popen):
    """popen_forkserver.Popen (CPython 3.11) for a `_Job`, without the parent's main script in the child's
    preparation: the fork server never preloads `__main__` (it looks for a `main_path` key the
    preparation data does not have), so every child would run the parent's entry script again
    (celery, gunicorn: hundreds of ms; an unguarded script: anything). The child only needs
    this module, which the server preloaded."""

    def _launch(self, process_obj):  # type: ignore[no-untyped-def]
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        prep_data["authkey"] = bytes(prep_data["authkey"])  # billiard's own key type refuses pickling
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


def _send(conn: Any, reply: tuple) -> None:
    """Child → parent without pickle: the parent must not unpickle what a rendering process wrote
    (were a template ever to escape the sandbox, a crafted pickle would run code in the parent).
    b"O" + the DOCX bytes, or b"J" + a JSON list of strings."""
    if reply[0] == "ok":
        conn.send_bytes(b"O" + reply[1])
    else:
        conn.send_bytes(b"J" + json.dumps([str(item) for item in reply]).encode("utf-8"))


def _receive(conn: Any) -> tuple:
    raw = conn.recv_bytes()
    if raw[:1] == b"O":
        return ("ok", raw[1:])
    reply = json.loads(raw[1:]) if raw[:1] == b"J" else None
    if not isinstance(reply, list) or not reply or not all(isinstance(item, str) for item in reply) or (
            reply[0] == "part" and len(reply) != 2) or (reply[0] == "refused" and len(reply) != 5) or (
            reply[0] not in ("part", "refused")):
        raise EOFError("malformed reply from the render process")
    return tuple(reply)


def _child(conn: Any, data: bytes, context: dict, images: dict, limits: Limits) -> None:
    mem = int(limits.memory_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = max(int(limits.cpu_seconds), 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    try:
        out = render(data, context=context, images=images, deadline_seconds=limits.wall_seconds * 0.9,
                     on_part=lambda where: _send(conn, ("part", where)))
        reply: tuple = ("ok", out)
    except Refused as exc:
        reply = ("refused", exc.kind, exc.part, exc.fragment, exc.detail)
    except MemoryError:
        reply = ("refused", "limit", "", "", "memory")
    except BaseException as exc:  # report, never hang the parent
        reply = ("refused", "error", "", "", f"{type(exc).__name__}: {exc}"[:500])
    try:
        _send(conn, reply)
    except MemoryError:
        _send(conn, ("refused", "limit", "", "", "memory"))
    conn.close()


class _Job:
    """What the fork server's child unpickles and runs (`spawn._main` calls `_bootstrap`).

    Not a multiprocessing.Process: inside a Celery prefork worker Process.start() refuses
    children (the worker is daemonic) and cannot pickle billiard's authentication key. We own
    the child's whole life (killed and reaped in render_isolated), which is what those rules
    protect."""

    _name = "procedo-template-render"

    def __init__(self, conn: Any, data: bytes, context: dict, images: dict, limits: Limits) -> None:
        self.conn, self.data, self.context, self.images, self.limits = conn, data, context, images, limits

    def _bootstrap(self, parent_sentinel: int | None = None) -> int:
        try:
            _child(self.conn, self.data, self.context, self.images, self.limits)
        except BaseException:  # noqa: BLE001  (the parent sees the closed pipe and reports it)
            return 1
        return 0


def render_isolated(data: bytes, *, context: Mapping[str, Any], images: Mapping[str, tuple[bytes, float]] | None = None,
                    limits: Limits = Limits()) -> bytes:
    """`render` in a child process with CPU, memory and wall-clock limits the template cannot
    dodge; the parent kills the child when the wall-clock limit passes."""
    ctx = _mp_context()
    receive, send = ctx.Pipe(duplex=False)
    popen = _RenderPopen(_Job(send, data, plain_data(dict(context)), dict(images or {}), limits))
    send.close()
    deadline = time.monotonic() + limits.wall_seconds
    where = ""
    try:
        while True:
            if not receive.poll(max(deadline - time.monotonic(), 0)):
                raise Refused("limit", part=where, detail=f"wall-clock limit of {limits.wall_seconds}s")
            try:
                reply = _receive(receive)
            except (EOFError, OSError, ValueError):
                code = popen.wait(1)
                if code is not None and code < 0 and -code == signal.SIGXCPU:
                    raise Refused("limit", part=where, detail="CPU time limit") from None
                raise Refused("limit", part=where, detail=f"render process ended with {code}") from None
            if reply[0] != "part":
                break
            where = reply[1]
    finally:
        if popen.poll() is None:
            popen.kill()
        popen.wait(5)
        popen.close()
        receive.close()
    if reply[0] == "ok":
        return reply[1]
    _tag, kind, part, fragment, detail = reply
    raise Refused(kind, part=part, fragment=fragment, detail=detail)
