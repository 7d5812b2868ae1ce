"""App IO simulator: citizen profiles (on IO or not, service allowed or not) and messages."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from common import clock

from ..base import config
from ..base.openapi import errors_for, request_pointer
from ..base.simulator import SimulatorApp, json_response, problem
from .client import SPEC

_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _iso(when: Any) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _ulid_like() -> str:
    return "".join(secrets.choice(_ULID_ALPHABET) for _ in range(26))


class AppIoSimulator(SimulatorApp):
    platform = "appio"
    # Demo citizens: the national ANPR test subject is on IO; the second blocked our service.
    SEED = {
        "PRVGNN90R10H501Q": {"sender_allowed": True, "preferred_languages": ["it_IT"]},
        "RSSMRA80A01H501U": {"sender_allowed": False, "preferred_languages": ["it_IT"]},
    }

    def __init__(self, *, everyone_on_io: bool = False, read_after: float | None = None) -> None:
        # Demo mode may treat any citizen as on IO, so demo cases see messages "sent".
        self.everyone_on_io = everyone_on_io
        # Demo mode: the citizen reads an ADVANCED message this many seconds (of common.clock) after
        # it arrives; None: only when told (POST /__sim__/messages/read, as the tests do).
        self.read_after = read_after
        super().__init__()

    def rules(self) -> list[Rule]:
        return [
            Rule("/profiles", endpoint="profile_post", methods=["POST"]),
            Rule("/profiles/<fiscal_code>", endpoint="profile_get", methods=["GET"]),
            Rule("/messages", endpoint="message_post", methods=["POST"]),
            Rule("/messages/<fiscal_code>", endpoint="message_for", methods=["POST"]),
            Rule("/messages/<fiscal_code>/<message_id>", endpoint="message_get", methods=["GET"]),
        ]

    def reset(self) -> None:
        super().reset()
        self.profiles: dict[str, dict[str, Any]] = {k: dict(v) for k, v in self.SEED.items()}
        self.messages: list[dict[str, Any]] = []

    def _auth(self, request: Request) -> Response | None:
        if not request.headers.get("Ocp-Apim-Subscription-Key"):
            return json_response({"statusCode": 401, "message": "Access denied due to missing subscription key."},
                                 401)
        return None

    def _profile(self, fiscal_code: str) -> dict[str, Any] | None:
        profile = self.profiles.get(fiscal_code)
        if profile is None and self.everyone_on_io:
            profile = {"sender_allowed": True, "preferred_languages": ["it_IT"]}
        return profile

    def _profile_response(self, fiscal_code: str) -> Response:
        with self.lock:
            profile = self._profile(fiscal_code)
        if profile is None:
            return problem(404, "Profile not found", "The profile you requested was not found in the system.")
        return json_response(profile)

    def on_profile_post(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("fiscal_code"), str):
            return problem(400, "Invalid FiscalCodePayload", "fiscal_code is required")
        return self._profile_response(body["fiscal_code"])

    def on_profile_get(self, request: Request, fiscal_code: str) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        return self._profile_response(fiscal_code)

    def on_message_post(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        return self._submit(request, (body or {}).get("fiscal_code") if isinstance(body, dict) else None, body)

    def on_message_for(self, request: Request, fiscal_code: str) -> Response:
        return self._submit(request, fiscal_code, request.get_json(silent=True))

    def _submit(self, request: Request, fiscal_code: str | None, body: Any) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        if not isinstance(body, dict):
            return problem(400, "Invalid NewMessage", "Malformed JSON")
        errs = errors_for(SPEC, request_pointer(SPEC, "post", "/messages"), body)
        if not fiscal_code:
            errs.append("fiscal_code: required")
        if errs:
            return problem(400, "Invalid NewMessage", "; ".join(errs[:5]))
        with self.lock:
            profile = self._profile(fiscal_code)
            if profile is None:
                return problem(404, "Recipient not found", "The recipient has no profile on IO")
            if not profile["sender_allowed"]:
                return problem(403, "Sender not allowed", "The user has disabled this service")
            message_id = _ulid_like()
            self.messages.append({"id": message_id, "fiscal_code": fiscal_code, **body,
                                  "created": clock.now(), "read": False})
        return json_response({"id": message_id}, 201, headers={"Location": f"/api/v1/messages/{fiscal_code}/{message_id}"})

    def on_message_get(self, request: Request, fiscal_code: str, message_id: str) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        with self.lock:
            message = next((m for m in self.messages if m["id"] == message_id and m["fiscal_code"] == fiscal_code),
                           None)
            if message is None:
                return problem(404, "Message not found", "The message you requested was not found in the system.")
            if (not message["read"] and self.read_after is not None
                    and (clock.now() - message["created"]).total_seconds() >= self.read_after):
                message["read"] = True
            out: dict[str, Any] = {
                "message": {"id": message_id, "fiscal_code": fiscal_code, "created_at": _iso(message["created"]),
                            "content": message["content"], "sender_service_id": "01PROCEDODEMOSERVICE0000",
                            "feature_level_type": message.get("feature_level_type", "STANDARD")},
                "status": message.get("status", "PROCESSED"),
            }
            if message.get("feature_level_type") == "ADVANCED":
                out["read_status"] = "READ" if message["read"] else "UNREAD"
        return json_response(out)

    def admin(self, request: Request) -> Response:
        if request.path == "/__sim__/messages/read" and request.method == "POST":
            body = request.get_json(silent=True) or {}
            with self.lock:
                marked = 0
                for message in self.messages:
                    if message["fiscal_code"] == body.get("fiscal_code") and not message["read"]:
                        message["read"] = True
                        marked += 1
            return json_response({"read": marked})
        if request.path == "/__sim__/messages/fail" and request.method == "POST":
            # The message could not be delivered (App IO status FAILED: e.g. the citizen's profile
            # was deleted after we sent it).
            body = request.get_json(silent=True) or {}
            with self.lock:
                failed = 0
                for message in self.messages:
                    if message["fiscal_code"] == body.get("fiscal_code") and not message["read"]:
                        message["status"] = "FAILED"
                        failed += 1
            return json_response({"failed": failed})
        if request.path == "/__sim__/profiles" and request.method == "POST":
            body = request.get_json(silent=True) or {}
            with self.lock:
                self.profiles[body["fiscal_code"]] = {"sender_allowed": bool(body.get("sender_allowed", True)),
                                                      "preferred_languages": ["it_IT"]}
            return json_response({"ok": True})
        if request.path == "/__sim__/messages":
            with self.lock:
                return json_response([{k: v for k, v in m.items() if k != "created"} for m in self.messages])
        return super().admin(request)


def create_app() -> AppIoSimulator:
    return AppIoSimulator(everyone_on_io=config.appio_simulator_everyone_on_io(),
                          read_after=config.appio_simulator_read_after())
