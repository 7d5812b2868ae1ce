"""Protocol-system simulator implementing our generic REST registration contract (see client.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from common import clock

from ..base.simulator import SimulatorApp, json_response, problem
from .client import DEFAULT_REGISTER_PATH

REQUIRED = ("verso", "oggetto", "corrispondente", "documento_primario")


class ProtocolSimulator(SimulatorApp):
    platform = "protocollo"

    def rules(self) -> list[Rule]:
        return [Rule(DEFAULT_REGISTER_PATH, endpoint="register", methods=["POST"])]

    def reset(self) -> None:
        super().reset()
        self.counters: dict[tuple[str, int], int] = {}
        self.by_key: dict[str, dict[str, Any]] = {}
        self.registrations: list[dict[str, Any]] = []

    def on_register(self, request: Request) -> Response:
        if not request.headers.get("Authorization", "").startswith("Bearer ") or \
                len(request.headers.get("Authorization", "")) <= len("Bearer "):
            return problem(401, "Unauthorized", "missing bearer token")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return problem(400, "Bad Request", "malformed JSON", type_="urn:protocollo:invalid-json")
        missing = [k for k in REQUIRED if not body.get(k)]
        if missing or body.get("verso") not in ("E", "U"):
            return problem(400, "Bad Request", f"campi mancanti o non validi: {', '.join(missing) or 'verso'}",
                           type_="urn:protocollo:validation")
        arrival = body.get("data_arrivo")
        if arrival is not None:
            try:
                arrived = dt.date.fromisoformat(str(arrival))
            except ValueError:
                arrived = None
            if arrived is None or body.get("verso") != "E" or arrived > timezone.localdate(clock.now()):
                return problem(400, "Bad Request", "data_arrivo: una data AAAA-MM-GG non futura, solo in entrata",
                               type_="urn:protocollo:validation")
        key = request.headers.get("Idempotency-Key", "")
        with self.lock:
            if key and key in self.by_key:
                return json_response(self.by_key[key]["answer"], 200)
            now = timezone.localtime(clock.now())
            registry = body.get("codice_registro") or "PG"
            counter_key = (f"{body.get('codice_aoo', '')}/{registry}", now.year)
            self.counters[counter_key] = self.counters.get(counter_key, 0) + 1
            answer = {"numero": f"{self.counters[counter_key]:07d}", "data": now.date().isoformat(),
                      "ora": now.time().replace(microsecond=0).isoformat(), "codice_registro": registry,
                      "anno": now.year}
            entry = {"request": body, "answer": answer, "at": dt.datetime.now(dt.UTC).isoformat()}
            self.registrations.append(entry)
            if key:
                self.by_key[key] = entry
        return json_response(answer, 201)


def create_app() -> ProtocolSimulator:
    return ProtocolSimulator()
