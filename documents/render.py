"""DOCX → PDF/A-2b through LibreOffice kept warm by unoserver.

A cold `soffice --convert-to` pays LibreOffice's start-up (over a second) on
every document, so a pool runs one unoserver per core, each with its own
absolute profile directory (two LibreOffice processes sharing a profile lock
each other out). unoserver needs LibreOffice's `uno` module, which only the
system python3 has, so the servers run under /usr/bin/python3 and we speak
XML-RPC to them from the venv.

Each unoserver runs under a guard (converter_guard.py) that the pool owns: the guard ends and reaps
unoserver and its LibreOffice processes when the pool stops it, when unoserver exits, and when the
owning process dies, even by SIGKILL. Stopping the pool waits for every guard.
"""

from __future__ import annotations

import atexit
import http.client
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from . import conf
from .errors import ConfigurationError, ConversionFailed

logger = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
GUARD = Path(__file__).resolve().parent / "converter_guard.py"
# Seconds a converter gets to exit on SIGTERM before its process group is SIGKILLed. LibreOffice
# has nothing to save (each converter's profile is thrown away), so this stays short.
STOP_GRACE = 3.0
# Margin over unoserver's own conversion timeout before the pool gives up on an instance.
CALL_MARGIN = 10.0
# PDF/A-2b (ISO 19005-2 level B): LibreOffice's filter option SelectPdfVersion=2;
# PDF/A forces every font to be embedded.
PDFA_FILTER_OPTIONS = ["SelectPdfVersion=2", "UseTaggedPDF=false", "ExportFormFields=false"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unoserver_pythonpath() -> Path:
    """A directory holding only the unoserver package, so the system python3 does
    not see the rest of the venv."""
    import unoserver

    target = conf.documents_var_dir() / "unoserver-path"
    target.mkdir(parents=True, exist_ok=True)
    link = target / "unoserver"
    source = Path(unoserver.__file__).parent
    if not link.exists():
        try:
            link.symlink_to(source, target_is_directory=True)
        except FileExistsError:
            pass
    dist = next(source.parent.glob("unoserver-*.dist-info"), None)
    if dist is not None and not (target / dist.name).exists():
        try:
            (target / dist.name).symlink_to(dist, target_is_directory=True)
        except FileExistsError:
            pass
    return target


def _guarded(command: list[str]) -> list[str]:
    """`command` run under converter_guard.py, owned by this process."""
    return [SYSTEM_PYTHON, "-I", str(GUARD), "--owner", str(os.getpid()), "--grace", str(STOP_GRACE), "--", *command]


def _children_of(pid: int) -> set[int]:
    """Direct children of a process, from /proc (Linux)."""
    children: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return children
    for task in tasks:
        try:
            children.update(int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        except OSError:
            continue
    return children


def _kill_strays(profile: Path) -> None:
    """SIGKILL any process still running on this (unique) LibreOffice profile."""
    needles = (str(profile).encode(), profile.as_uri().encode())
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            logger.error("killing LibreOffice process %s left by a killed converter guard", name)
            try:
                os.kill(int(name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class _TimeoutTransport(xmlrpc.client.Transport):
    """XML-RPC over HTTP with a socket timeout: a hung converter must not hang the worker."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):  # type: ignore[no-untyped-def]
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


@dataclass
class _Instance:
    index: int
    port: int
    uno_port: int
    profile: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/RPC2"


@dataclass
class ConverterPool:
    size: int
    timeout: int = 60
    _instances: list[_Instance] = field(default_factory=list)
    _free: queue.Queue = field(default_factory=queue.Queue)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def running(self) -> bool:
        return bool(self._instances)

    def start(self, *, ready_within: float = 90.0) -> None:
        if not Path(SYSTEM_PYTHON).exists() or shutil.which("soffice") is None:
            raise ConfigurationError(_("LibreOffice non è installato (pacchetto libreoffice-writer-nogui)."))
        with self._lock:
            if self._instances:
                return
            for i in range(self.size):
                inst = self._spawn(i)
                self._instances.append(inst)
            deadline = time.monotonic() + ready_within
            for inst in self._instances:
                self._wait_ready(inst, deadline)
                self._free.put(inst)
            logger.info("converter pool started: %d unoserver instances", self.size)

    def _spawn(self, index: int) -> _Instance:
        base = conf.documents_var_dir()
        # Unique per instance, also across pools of one process: LibreOffice started on a profile in use
        # hands its work to the running one and exits.
        inst = _Instance(index=index, port=_free_port(), uno_port=_free_port(),
                         profile=(base / f"lo-profile-{os.getpid()}-{index}-{uuid.uuid4().hex[:8]}").resolve())
        inst.profile.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(_unoserver_pythonpath())}
        env.pop("VIRTUAL_ENV", None)
        log = open(base / f"unoserver-{index}.log", "ab")  # noqa: SIM115 - owned by the child
        # The guard runs in its own session, so a Ctrl-C on the terminal reaches the worker, which
        # stops its converters itself, and not LibreOffice behind its back.
        inst.process = subprocess.Popen(
            _guarded([SYSTEM_PYTHON, "-m", "unoserver.server", "--interface", "127.0.0.1",
                      "--port", str(inst.port), "--uno-interface", "127.0.0.1", "--uno-port", str(inst.uno_port),
                      "--user-installation", str(inst.profile), "--conversion-timeout", str(self.timeout)]),
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        return inst

    @staticmethod
    def _signal_stop(inst: _Instance) -> None:
        if inst.process is not None and inst.process.poll() is None:
            try:
                inst.process.terminate()  # the guard ends the converter's process group and reaps it
            except ProcessLookupError:
                pass

    @staticmethod
    def _wait_stopped(inst: _Instance) -> None:
        proc = inst.process
        if proc is None:
            return
        try:
            proc.wait(timeout=STOP_GRACE + 5)
            if proc.returncode == -signal.SIGKILL:
                # Someone SIGKILLed the guard itself: unoserver died with it, but LibreOffice was
                # orphaned. Its command line names the instance's own profile.
                _kill_strays(inst.profile)
        except subprocess.TimeoutExpired:
            # The guard itself is stuck: kill what it guards, then the guard.
            logger.error("converter guard %s did not stop: killing it", proc.pid)
            for pid in _children_of(proc.pid):  # unoserver leads its own process group
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            proc.wait()
            _kill_strays(inst.profile)

    @classmethod
    def _kill(cls, inst: _Instance) -> None:
        cls._signal_stop(inst)
        cls._wait_stopped(inst)

    def _replace(self, inst: _Instance) -> _Instance:
        """A converter died (crash, or unoserver's own exit after a conversion timeout) or hangs:
        stop it and every process under it, and start a fresh one in its slot."""
        logger.error("converter instance %s is down: restarting it", inst.index)
        self._kill(inst)
        shutil.rmtree(inst.profile, ignore_errors=True)  # a killed soffice may leave its profile locked
        fresh = self._spawn(inst.index)
        with self._lock:
            if inst in self._instances:
                self._instances[self._instances.index(inst)] = fresh
            else:  # the pool was stopped meanwhile: do not leave the fresh one behind
                self._kill(fresh)
                raise ConversionFailed(_("Il convertitore documenti non è raggiungibile."), code="converter_down")
        self._wait_ready(fresh, time.monotonic() + 90)
        return fresh

    def _wait_ready(self, inst: _Instance, deadline: float) -> None:
        while True:
            if inst.process is not None and inst.process.poll() is not None:
                self.stop()
                raise ConfigurationError(_("Il convertitore LibreOffice non si è avviato."))
            try:
                xmlrpc.client.ServerProxy(inst.url).info()
                return
            except (ConnectionError, OSError, xmlrpc.client.Fault):
                if time.monotonic() > deadline:
                    self.stop()
                    raise ConfigurationError(_("Il convertitore LibreOffice non risponde.")) from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop every converter and wait for all of their processes (in parallel: a few seconds
        at most, whatever the pool size)."""
        with self._lock:
            for inst in self._instances:
                self._signal_stop(inst)
            for inst in self._instances:
                self._wait_stopped(inst)
                shutil.rmtree(inst.profile, ignore_errors=True)
            self._instances.clear()
            self._free = queue.Queue()

    def _healthy(self, inst: _Instance) -> bool:
        if inst.process is None or inst.process.poll() is not None:
            return False
        try:
            xmlrpc.client.ServerProxy(inst.url, transport=_TimeoutTransport(5)).info()
        except (OSError, http.client.HTTPException, xmlrpc.client.Error):
            return False
        return inst.process.poll() is None

    def convert(self, docx: bytes) -> bytes:
        try:
            inst: _Instance = self._free.get(timeout=self.timeout * 2)
        except queue.Empty:
            raise ConversionFailed(_("Il convertitore documenti è occupato, riprovare più tardi."),
                                   code="converter_busy") from None
        try:
            result = self._convert_on(inst, docx)
        finally:
            # _convert_on may have replaced the instance in its slot: give back whichever is current
            with self._lock:
                current = next((i for i in self._instances if i.index == inst.index), None)
                if current is not None:
                    self._free.put(current)
        data = result.data if isinstance(result, xmlrpc.client.Binary) else result
        if not data or not data.startswith(b"%PDF-"):
            raise ConversionFailed(_("LibreOffice non ha prodotto un PDF."), code="conversion_failed")
        return data

    def _convert_on(self, inst: _Instance, docx: bytes):  # type: ignore[no-untyped-def]
        try:
            return self._call(inst, docx, timeout=self.timeout + CALL_MARGIN)
        except TimeoutError as exc:
            # The converter hangs beyond unoserver's own timeout: replace it, do not retry the
            # document that hung it.
            logger.error("converter instance %s hangs: replacing it", inst.index)
            self._replace(inst)
            raise ConversionFailed(_("La conversione del documento ha superato il tempo massimo."),
                                   code="conversion_timeout") from exc
        except xmlrpc.client.Fault as exc:
            logger.warning("conversion refused by LibreOffice: %s", exc.faultString[:300])
            if "TimeoutError" in exc.faultString:  # unoserver gave up and is exiting
                self._replace(inst)
                raise ConversionFailed(_("La conversione del documento ha superato il tempo massimo."),
                                       code="conversion_timeout") from exc
            if self._healthy(inst):  # the document is at fault, not the converter
                raise ConversionFailed(_("LibreOffice non è riuscito a convertire il documento."),
                                       code="conversion_failed") from exc
            failure: Exception = exc
        except (OSError, http.client.HTTPException) as exc:
            failure = exc
        # The converter crashed (LibreOffice died, unoserver exited): one retry on a fresh instance.
        logger.warning("converter instance %s is down (%s)", inst.index, failure)
        inst = self._replace(inst)
        try:
            return self._call(inst, docx, timeout=self.timeout + CALL_MARGIN)
        except xmlrpc.client.Fault as exc:
            raise ConversionFailed(_("LibreOffice non è riuscito a convertire il documento."),
                                   code="conversion_failed") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ConversionFailed(_("Il convertitore documenti non è raggiungibile."), code="converter_down") from exc

    @staticmethod
    def _call(inst: _Instance, docx: bytes, *, timeout: float):  # type: ignore[no-untyped-def]
        proxy = xmlrpc.client.ServerProxy(inst.url, allow_none=True, transport=_TimeoutTransport(timeout))
        return proxy.convert(None, xmlrpc.client.Binary(docx), None, "pdf", "writer_pdf_Export",
                             PDFA_FILTER_OPTIONS, False)


_pool: ConverterPool | None = None
_pool_lock = threading.Lock()


def start_pool(size: int | None = None) -> ConverterPool:
    global _pool
    with _pool_lock:
        if _pool is None or not _pool.running:
            _pool = ConverterPool(size=size or conf.converter_instances(), timeout=conf.converter_timeout())
            _pool.start()
        return _pool


def stop_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.stop()
        _pool = None


def _forget_inherited_pool() -> None:
    """A process forked from the pool's owner (a prefork worker child) inherits the pool object,
    but the converters are the parent's: the child must neither use nor stop them."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


atexit.register(stop_pool)  # a plain process exit (manage.py, bench) stops its converters too
os.register_at_fork(after_in_child=_forget_inherited_pool)


def pool_running() -> bool:
    return _pool is not None and _pool.running


def convert_cold(docx: bytes) -> bytes:
    """One-off conversion with a fresh soffice: used only when no pool is running."""
    if shutil.which("soffice") is None:
        raise ConfigurationError(_("LibreOffice non è installato (pacchetto libreoffice-writer-nogui)."))
    base = conf.documents_var_dir()
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        tmpdir = Path(tmp).resolve()
        src = tmpdir / "document.docx"
        src.write_bytes(docx)
        cmd = ["soffice", "--headless", "--norestore", "--nologo", f"-env:UserInstallation={(tmpdir / 'profile').as_uri()}",
               "--convert-to", 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}',
               "--outdir", str(tmpdir), str(src)]
        # Under the guard too: a timeout or the death of this process must not leave soffice.bin
        # (a grandchild) running or as a zombie.
        guarded = _Instance(index=-1, port=0, uno_port=0, profile=tmpdir / "profile")
        guarded.process = subprocess.Popen(_guarded(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _unused = guarded.process.communicate(timeout=conf.converter_timeout())
        except subprocess.TimeoutExpired as exc:
            logger.error("cold LibreOffice conversion timed out after %ss", exc.timeout)
            raise ConversionFailed(_("La conversione del documento ha superato il tempo massimo."),
                                   code="conversion_timeout") from exc
        finally:
            ConverterPool._kill(guarded)  # no-op once it has exited; never leaves it behind
        if guarded.process.returncode != 0:
            logger.error("cold LibreOffice conversion failed (%s): %s", guarded.process.returncode, output[-500:])
            raise ConversionFailed(_("LibreOffice non è riuscito a convertire il documento."), code="conversion_failed")
        out = tmpdir / "document.pdf"
        if not out.exists():
            raise ConversionFailed(_("LibreOffice non ha prodotto un PDF."), code="conversion_failed")
        return out.read_bytes()


def docx_to_pdfa(docx: bytes) -> bytes:
    if _pool is not None and _pool.running:
        return _pool.convert(docx)
    logger.warning("converter pool not running: cold LibreOffice start for one document")
    return convert_cold(docx)
