"""DOCX → PDF/A-2b through LibreOffice kept warm by unoserver.

A cold `soffice --convert-to` pays LibreOffice's start-up (over a second) on
every document, so a pool runs one unoserver per core, each with its own
absolute profile directory (two LibreOffice processes sharing a profile lock
each other out). unoserver needs LibreOffice's `uno` module, which only the
system python3 has, so the servers run under /usr/bin/python3 and we speak
XML-RPC to them from the venv.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from . import conf
from .errors import ConfigurationError, ConversionFailed

logger = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
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
        inst = _Instance(index=index, port=_free_port(), uno_port=_free_port(),
                         profile=(base / f"lo-profile-{os.getpid()}-{index}").resolve())
        inst.profile.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(_unoserver_pythonpath())}
        env.pop("VIRTUAL_ENV", None)
        log = open(base / f"unoserver-{index}.log", "ab")  # noqa: SIM115 - owned by the child
        inst.process = subprocess.Popen(
            [SYSTEM_PYTHON, "-m", "unoserver.server", "--interface", "127.0.0.1",
             "--port", str(inst.port), "--uno-interface", "127.0.0.1", "--uno-port", str(inst.uno_port),
             "--user-installation", str(inst.profile), "--conversion-timeout", str(self.timeout)],
            env=env, stdout=log, stderr=log, start_new_session=True,
        )
        log.close()
        return inst

    @staticmethod
    def _kill(inst: _Instance) -> None:
        # unoserver and its soffice child share a session: end the whole group.
        if inst.process is None:
            return
        try:
            os.killpg(inst.process.pid, 15)
            inst.process.wait(timeout=15)
        except (ProcessLookupError, PermissionError):
            pass
        except subprocess.TimeoutExpired:
            os.killpg(inst.process.pid, 9)
            inst.process.wait()

    def _replace(self, inst: _Instance) -> _Instance:
        """A converter died (crash, or unoserver's own exit after a conversion timeout):
        start a fresh one in its slot."""
        logger.error("converter instance %s is down: restarting it", inst.index)
        self._kill(inst)
        shutil.rmtree(inst.profile, ignore_errors=True)  # a killed soffice may leave its profile locked
        fresh = self._spawn(inst.index)
        with self._lock:
            self._instances[self._instances.index(inst)] = fresh
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
        with self._lock:
            for inst in self._instances:
                self._kill(inst)
                shutil.rmtree(inst.profile, ignore_errors=True)
            self._instances.clear()
            self._free = queue.Queue()

    def convert(self, docx: bytes) -> bytes:
        inst: _Instance = self._free.get(timeout=self.timeout * 2)
        try:
            try:
                result = self._call(inst, docx)
            except (ConnectionError, OSError) as exc:
                # one retry on a fresh instance; a second failure is reported
                logger.warning("converter instance %s unreachable (%s)", inst.index, exc)
                inst = self._replace(inst)
                try:
                    result = self._call(inst, docx)
                except (ConnectionError, OSError) as exc2:
                    raise ConversionFailed(_("Il convertitore documenti non è raggiungibile."),
                                           code="converter_down") from exc2
        except xmlrpc.client.Fault as exc:
            logger.warning("conversion refused by LibreOffice: %s", exc.faultString[:300])
            if inst.process is not None and inst.process.poll() is not None:
                inst = self._replace(inst)
            raise ConversionFailed(_("LibreOffice non è riuscito a convertire il documento."), code="conversion_failed") from exc
        finally:
            self._free.put(inst)
        data = result.data if isinstance(result, xmlrpc.client.Binary) else result
        if not data or not data.startswith(b"%PDF-"):
            raise ConversionFailed(_("LibreOffice non ha prodotto un PDF."), code="conversion_failed")
        return data

    @staticmethod
    def _call(inst: _Instance, docx: bytes):  # type: ignore[no-untyped-def]
        proxy = xmlrpc.client.ServerProxy(inst.url, allow_none=True)
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
        try:
            subprocess.run(cmd, capture_output=True, timeout=conf.converter_timeout(), check=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            logger.error("cold LibreOffice conversion failed: %s", exc)
            raise ConversionFailed(_("LibreOffice non è riuscito a convertire il documento."), code="conversion_failed") from exc
        out = tmpdir / "document.pdf"
        if not out.exists():
            raise ConversionFailed(_("LibreOffice non ha prodotto un PDF."), code="conversion_failed")
        return out.read_bytes()


def docx_to_pdfa(docx: bytes) -> bytes:
    if _pool is not None and _pool.running:
        return _pool.convert(docx)
    logger.warning("converter pool not running: cold LibreOffice start for one document")
    return convert_cold(docx)
