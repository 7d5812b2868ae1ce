"""Serve every platform simulator on its demo port until Ctrl-C (used by `make run`)."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from connectors.base.config import simulator_host
from connectors.simulators import start_all, stop_all


class Command(BaseCommand):
    help = "Avvia i simulatori delle piattaforme nazionali (ANPR, PDND, pagoPA, App IO, SEND, protocollo, PARER)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=None, help="indirizzo di ascolto (predefinito 127.0.0.1)")
        parser.add_argument("--only", default="", help="solo queste piattaforme, separate da virgola")

    def handle(self, *args, **options):
        host = options["host"] or simulator_host()
        only = [p.strip() for p in options["only"].split(",") if p.strip()] or None
        try:
            servers = start_all(host=host, only=only)
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        for server in servers:
            self.stdout.write(f"{server.platform:<12} {server.url}")
        self.stdout.write("Simulatori avviati. Ctrl-C per fermarli.")
        stop = threading.Event()
        # `make run` stops its children with SIGTERM: close the sockets cleanly then too.
        previous = signal.signal(signal.SIGTERM, lambda *_args: stop.set())
        try:
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            self.stdout.write("Arresto dei simulatori...")
        finally:
            signal.signal(signal.SIGTERM, previous)
            stop_all(servers)
