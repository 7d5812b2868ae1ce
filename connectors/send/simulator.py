"""SEND simulator: presigned uploads with checksum, notification requests, status on a fast clock.

Time runs `speed` times faster than `common.clock` from the moment a request is
sent (env PROCEDO_SEND_SIM_SPEED, default 60 in demo), so a demo sees a
notification become DELIVERED and EFFECTIVE_DATE within minutes; tests move
`common.clock` instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import string
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from common import clock

from ..base import config
from ..base.openapi import errors_for, request_pointer
from ..base.simulator import SimulatorApp, json_response, problem
from .client import PRELOAD, REQUESTS, SPEC

# (seconds after the request, status): SEND validates asynchronously, then delivers;
# a notification is "perfezionata" for the sender after 7 days (digital) in the real platform.
TIMELINE = [
    (0, "IN_VALIDATION"),
    (10, "ACCEPTED"),
    (60, "DELIVERING"),
    (300, "DELIVERED"),
    (7 * 24 * 3600, "EFFECTIVE_DATE"),
]
ACCEPT_AFTER = 10


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _problem(status: int, code: str, detail: str, element: str | None = None) -> Response:
    error = {"code": code, "detail": detail[:1024]}
    if element:
        error["element"] = element
    return problem(status, "Bad Request" if status == 400 else "Error", detail[:4096], errors=[error],
                   extra={"timestamp": _iso(clock.now()), "traceId": secrets.token_hex(8)})


class SendSimulator(SimulatorApp):
    platform = "send"

    def __init__(self, *, speed: float = 1.0) -> None:
        self.speed = speed
        super().__init__()

    def rules(self) -> list[Rule]:
        return [
            Rule(PRELOAD, endpoint="preload", methods=["POST"]),
            Rule("/__upload__/<key>", endpoint="upload", methods=["PUT"]),
            Rule(REQUESTS, endpoint="new_request", methods=["POST"]),
            Rule(REQUESTS, endpoint="request_status", methods=["GET"]),
            Rule("/delivery/v2.6/notifications/sent/<iun>", endpoint="sent", methods=["GET"]),
        ]

    def reset(self) -> None:
        super().reset()
        self.slots: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.requests_by_id: dict[str, dict[str, Any]] = {}

    def _auth(self, request: Request) -> Response | None:
        if not request.headers.get("x-api-key"):
            return json_response({"message": "Unauthorized"}, 403)
        return None

    def _elapsed(self, since: dt.datetime) -> float:
        return max(0.0, (clock.now() - since).total_seconds() * self.speed)

    # --- upload ---
    def on_preload(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = request.get_json(silent=True)
        errs = errors_for(SPEC, request_pointer(SPEC, "post", PRELOAD), body)
        if errs:
            return _problem(400, "PN_GENERIC_INVALIDPARAMETER", errs[0])
        out = []
        with self.lock:
            for item in body:
                key = "PN_NOTIFICATION_ATTACHMENTS-" + secrets.token_hex(12)
                secret = secrets.token_urlsafe(12)
                self.slots[key] = {"sha256": item["sha256"], "secret": secret,
                                   "contentType": item.get("contentType", "application/pdf")}
                out.append({"preloadIdx": item.get("preloadIdx", "0"), "secret": secret, "httpMethod": "PUT",
                            "url": f"{request.host_url.rstrip('/')}/__upload__/{key}", "key": key})
        return json_response(out)

    def on_upload(self, request: Request, key: str) -> Response:
        with self.lock:
            slot = self.slots.get(key)
        if slot is None or request.headers.get("x-amz-meta-secret") != slot["secret"]:
            return Response("<Error><Code>AccessDenied</Code></Error>", 403, content_type="application/xml")
        content = request.get_data()
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        if digest != slot["sha256"] or request.headers.get("x-amz-checksum-sha256") != digest:
            return Response("<Error><Code>BadDigest</Code></Error>", 400, content_type="application/xml")
        version = secrets.token_hex(16)
        with self.lock:
            self.files[key] = {"sha256": digest, "version": version, "size": len(content)}
        return Response(b"", 200, headers={"x-amz-version-id": version})

    # --- notifications ---
    def on_new_request(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = request.get_json(silent=True)
        errs = errors_for(SPEC, request_pointer(SPEC, "post", REQUESTS), body)
        if errs:
            return _problem(400, "PN_GENERIC_INVALIDPARAMETER", errs[0])
        with self.lock:
            for existing in self.requests_by_id.values():
                same = (existing["body"]["paProtocolNumber"] == body["paProtocolNumber"]
                        and existing["body"].get("idempotenceToken") == body.get("idempotenceToken"))
                if same and existing["status"] != "REFUSED":
                    return _problem(409, "PN_DUPLICATE_ENTRY",
                                    f"Duplicated notification for senderPaId##paProtocolNumber##idempotenceToken "
                                    f"{body['paProtocolNumber']}")
            request_id = base64.b64encode(secrets.token_bytes(27)).decode()
            refusal = self._refusal(body)
            self.requests_by_id[request_id] = {"body": body, "created": clock.now(), "refusal": refusal,
                                               "status": "WAITING", "iun": None}
        out = {"notificationRequestId": request_id, "paProtocolNumber": body["paProtocolNumber"]}
        if body.get("idempotenceToken"):
            out["idempotenceToken"] = body["idempotenceToken"]
        return json_response(out, 202)

    def _refusal(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []
        for doc in body["documents"]:
            stored = self.files.get(doc["ref"]["key"].removeprefix("safestorage://"))
            if stored is None:
                errors.append({"code": "FILE_NOTFOUND", "detail": f"Allegato {doc['ref']['key']} non trovato"})
            elif stored["sha256"] != doc["digests"]["sha256"]:
                errors.append({"code": "FILE_SHA_ERROR", "detail": "sha256 dell'allegato non corrispondente"})
            elif stored["version"] != doc["ref"]["versionToken"]:
                errors.append({"code": "FILE_NOTFOUND", "detail": "versionToken non corrispondente"})
        return errors

    def _advance(self, entry: dict[str, Any]) -> None:
        if entry["status"] == "WAITING" and self._elapsed(entry["created"]) >= ACCEPT_AFTER:
            if entry["refusal"]:
                entry["status"] = "REFUSED"
            else:
                entry["status"] = "ACCEPTED"
                letters = string.ascii_uppercase
                part = lambda: "".join(secrets.choice(letters) for _ in range(4))  # noqa: E731
                entry["iun"] = f"{part()}-{part()}-{part()}-{clock.now():%Y%m}-{secrets.choice(letters)}-1"

    def on_request_status(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        request_id = request.args.get("notificationRequestId")
        with self.lock:
            entry = None
            if request_id:
                entry = self.requests_by_id.get(request_id)
            elif request.args.get("paProtocolNumber"):
                for rid, candidate in self.requests_by_id.items():
                    if (candidate["body"]["paProtocolNumber"] == request.args["paProtocolNumber"]
                            and candidate["body"].get("idempotenceToken") == request.args.get("idempotenceToken")):
                        entry, request_id = candidate, rid
            if entry is None:
                return _problem(404, "PN_NOTIFICATION_NOT_FOUND", "Notification request not found")
            self._advance(entry)
            out = {**entry["body"], "notificationRequestId": request_id,
                   "notificationRequestStatus": entry["status"]}
            if entry["status"] == "WAITING":
                out["retryAfter"] = 10
            if entry["iun"]:
                out["iun"] = entry["iun"]
            if entry["status"] == "REFUSED":
                out["errors"] = entry["refusal"]
        return json_response(out)

    def on_sent(self, request: Request, iun: str) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        with self.lock:
            entry = next((e for e in self.requests_by_id.values() if e["iun"] == iun), None)
            if entry is None:
                return _problem(404, "PN_NOTIFICATION_NOT_FOUND", f"IUN {iun} not found")
            elapsed = self._elapsed(entry["created"])
            viewed_at = entry.get("viewed_at")
            history = []
            for offset, status in TIMELINE:
                since = entry["created"] + dt.timedelta(seconds=offset / self.speed)
                if elapsed >= offset and (viewed_at is None or since <= viewed_at):
                    history.append({"status": status, "activeFrom": _iso(since), "relatedTimelineElements": []})
            if viewed_at is not None:
                # Read by the recipient: "perfezionata" on that day, no EFFECTIVE_DATE afterwards.
                history.append({"status": "VIEWED", "activeFrom": _iso(viewed_at), "relatedTimelineElements": []})
            out = {**entry["body"], "iun": iun, "sentAt": _iso(entry["created"]),
                   "notificationStatus": history[-1]["status"], "notificationStatusHistory": history,
                   "timeline": [], "documentsAvailable": True}
        return json_response(out)


    def admin(self, request: Request) -> Response:
        if request.path == "/__sim__/notifications/viewed" and request.method == "POST":
            body = request.get_json(silent=True) or {}
            viewed = 0
            with self.lock:
                for entry in self.requests_by_id.values():
                    self._advance(entry)
                    tax_ids = {r.get("taxId") for r in entry["body"].get("recipients") or []}
                    if entry["iun"] and entry.get("viewed_at") is None and (
                            body.get("iun") == entry["iun"] or (body.get("tax_id") and body["tax_id"] in tax_ids)):
                        entry["viewed_at"] = clock.now()
                        viewed += 1
            return json_response({"viewed": viewed})
        return super().admin(request)


def create_app() -> SendSimulator:
    return SendSimulator(speed=config.send_simulator_speed())
