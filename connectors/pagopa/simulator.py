"""pagoPA GPD simulator: debt positions per organisation, with GPD's statuses and errors.

Demo/test extra: `POST /__sim__/pay/<nav>` marks the payment option paid, as if a
citizen paid at a PSP. The Checkout is simulated too: `POST /checkout/ec/v1/carts` (the creditor
institutions' API) answers 302 to a page `/c/<cart id>` where the citizen presses "Paga" (the
positions become paid, back to `returnOkUrl`) or "Annulla" (back to `returnCancelUrl`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import html
import secrets
from typing import Any
from urllib.parse import urlsplit

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from common import clock

from ..base.openapi import errors_for, request_pointer
from ..base.simulator import SimulatorApp, json_response, problem
from .client import POSITIONS, SPEC
from .notice import iuv_is_valid


def _now() -> str:
    return clock.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class GpdSimulator(SimulatorApp):
    platform = "pagopa"
    aux_digit = "3"

    def rules(self) -> list[Rule]:
        base = "/organizations/<org>/debtpositions"
        return [
            Rule(base, endpoint="create", methods=["POST"]),
            Rule(f"{base}/<iupd>", endpoint="get", methods=["GET"]),
            Rule(f"{base}/<iupd>/publish", endpoint="publish", methods=["POST"]),
            Rule(f"{base}/<iupd>/invalidate", endpoint="invalidate", methods=["POST"]),
            Rule("/info", endpoint="info", methods=["GET"]),
            Rule("/checkout/ec/v1/carts", endpoint="cart_create", methods=["POST"]),
            Rule("/c/<cart_id>", endpoint="cart_page", methods=["GET", "POST"]),
        ]

    def reset(self) -> None:
        super().reset()
        self.positions: dict[tuple[str, str], dict[str, Any]] = {}
        self.carts: dict[str, dict[str, Any]] = {}

    def _auth(self, request: Request) -> Response | None:
        if not request.headers.get("Ocp-Apim-Subscription-Key"):
            return json_response({"statusCode": 401, "message": "Access denied due to missing subscription key."},
                                 401)
        return None

    def on_info(self, request: Request) -> Response:
        return json_response({"name": "gpd-simulator", "version": "1", "environment": "simulator"})

    def on_create(self, request: Request, org: str) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return problem(400, "BAD REQUEST", "Malformed JSON request")
        errs = errors_for(SPEC, request_pointer(SPEC, "post", POSITIONS), body)
        for option in body.get("paymentOption") or []:
            for transfer in option.get("transfer") or []:
                errs.extend(_transfer_errors(transfer))
            if not iuv_is_valid(str(option.get("iuv", ""))):
                errs.append(f"paymentOption.iuv: {option.get('iuv')!r} is not a valid IUV (aux digit 3)")
            total = sum(t.get("amount", 0) for t in option.get("transfer") or [])
            if total != option.get("amount"):
                errs.append("paymentOption.amount: must equal the sum of its transfers")
        if errs:
            return problem(400, "BAD REQUEST", "; ".join(errs[:5]))
        with self.lock:
            if (org, body["iupd"]) in self.positions:
                return problem(409, "CONFLICT", f"Debt Position with IUPD {body['iupd']} already exists")
            used = {o["iuv"] for p in self.positions.values() if p["organizationFiscalCode"] == org
                    for o in p["paymentOption"]}
            if any(o["iuv"] in used for o in body.get("paymentOption") or []):
                return problem(409, "CONFLICT", "IUV already used by another debt position")
            now = _now()
            publish = request.args.get("toPublish", "false").lower() == "true"
            position = {
                **{k: v for k, v in body.items() if k not in ("status", "paymentDate", "paymentOption")},
                "organizationFiscalCode": org,
                "insertedDate": now,
                "lastUpdatedDate": now,
                "status": "VALID" if publish else "DRAFT",
                "paymentOption": [
                    {**o, "nav": self.aux_digit + o["iuv"], "organizationFiscalCode": org, "insertedDate": now,
                     "status": "PO_UNPAID", "fee": 0, "notificationFee": 0}
                    for o in body.get("paymentOption") or []
                ],
            }
            if publish:
                position["publishDate"] = now
            self.positions[(org, body["iupd"])] = position
            return json_response(self._as_model(position), 201)

    def on_publish(self, request: Request, org: str, iupd: str) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        with self.lock:
            position = self.positions.get((org, iupd))
            if position is None:
                return problem(404, "NOT FOUND", f"Debt Position with IUPD {iupd} not found")
            if position["status"] != "DRAFT":
                return problem(409, "CONFLICT", f"Debt Position with IUPD {iupd} is not in DRAFT status")
            position["status"] = "VALID"
            position["publishDate"] = position["lastUpdatedDate"] = _now()
            return json_response(self._as_model(position))

    def on_invalidate(self, request: Request, org: str, iupd: str) -> Response:
        """GPD invalidatePosition: only a position nobody has paid yet (VALID or PUBLISHED)."""
        if (denied := self._auth(request)) is not None:
            return denied
        with self.lock:
            position = self.positions.get((org, iupd))
            if position is None:
                return problem(404, "NOT FOUND", f"Debt Position with IUPD {iupd} not found")
            if position["status"] not in ("VALID", "PUBLISHED"):
                return problem(409, "CONFLICT", f"Debt Position with IUPD {iupd} is not in invalidable status "
                                                f"({position['status']})")
            position["status"] = "INVALID"
            position["lastUpdatedDate"] = _now()
            return json_response(self._as_model(position))

    def on_get(self, request: Request, org: str, iupd: str) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        with self.lock:
            position = self.positions.get((org, iupd))
            if position is None:
                return problem(404, "NOT FOUND", f"Debt Position with IUPD {iupd} not found")
            return json_response(self._as_base_response(position))

    # --- Checkout -------------------------------------------------------------------------------

    def on_cart_create(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        body = request.get_json(silent=True)
        notices = body.get("paymentNotices") if isinstance(body, dict) else None
        urls = body.get("returnUrls") if isinstance(body, dict) else None
        if not isinstance(notices, list) or not 1 <= len(notices) <= 5 or not isinstance(urls, dict):
            return problem(400, "BAD REQUEST", "paymentNotices (1-5) and returnUrls are required")
        for key in ("returnOkUrl", "returnCancelUrl", "returnErrorUrl"):
            if urlsplit(str(urls.get(key, ""))).scheme not in ("http", "https"):
                return problem(400, "BAD REQUEST", f"returnUrls.{key} must be an http(s) URL")
        for notice in notices:
            if not isinstance(notice, dict) or not str(notice.get("noticeNumber", "")).isdigit():
                return problem(400, "BAD REQUEST", "each notice needs a noticeNumber")
        cart_id = secrets.token_urlsafe(12)
        with self.lock:
            self.carts[cart_id] = {"notices": notices, "urls": urls, "status": "open"}
        host = request.host_url.rstrip("/")
        return Response(status=302, headers={"Location": f"{host}/c/{cart_id}"})

    def on_cart_page(self, request: Request, cart_id: str) -> Response:
        with self.lock:
            cart = self.carts.get(cart_id)
        if cart is None:
            return Response("<!doctype html><title>Carrello non trovato</title><p>Carrello non trovato.</p>",
                            status=404, content_type="text/html; charset=utf-8")
        if request.method == "POST":
            urls = cart["urls"]
            if request.form.get("action") == "pay" and cart["status"] == "open":
                paid = all(self.mark_paid(str(n["noticeNumber"])) for n in cart["notices"])
                cart["status"] = "paid" if paid else "error"
                return Response(status=303, headers={"Location": urls["returnOkUrl"] if paid else urls["returnErrorUrl"]})
            if cart["status"] == "paid":
                return Response(status=303, headers={"Location": urls["returnOkUrl"]})
            cart["status"] = "cancelled"
            return Response(status=303, headers={"Location": urls["returnCancelUrl"]})
        rows = "".join(
            f"<tr><td>{html.escape(str(n.get('description', '')))}</td><td>{html.escape(str(n.get('companyName', '')))}</td>"
            f"<td>{html.escape(str(n['noticeNumber']))}</td><td>{int(n.get('amount', 0)) / 100:.2f} €</td></tr>"
            for n in cart["notices"])
        page = f"""<!doctype html><html lang="it"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>pagoPA Checkout (simulatore)</title></head>
<body><main><h1>pagoPA Checkout (simulatore)</h1>
<p>Pagamento simulato: nessun addebito reale.</p>
<table><caption>Avvisi nel carrello</caption><thead><tr><th scope="col">Causale</th><th scope="col">Ente</th>
<th scope="col">Codice avviso</th><th scope="col">Importo</th></tr></thead><tbody>{rows}</tbody></table>
<form method="post"><button type="submit" name="action" value="pay" id="pay">Paga</button>
<button type="submit" name="action" value="cancel" id="cancel">Annulla</button></form></main></body></html>"""
        return Response(page, content_type="text/html; charset=utf-8")

    def admin(self, request: Request) -> Response:
        if request.path.startswith("/__sim__/pay/") and request.method == "POST":
            nav = request.path.rsplit("/", 1)[-1]
            if self.mark_paid(nav):
                return json_response({"ok": True, "nav": nav})
            return problem(404, "NOT FOUND", f"no payable option with nav {nav}")
        return super().admin(request)

    def mark_paid(self, nav: str) -> bool:
        with self.lock:
            for position in self.positions.values():
                for option in position["paymentOption"]:
                    # An invalidated or expired position cannot be paid (the PSP gets PPT_... errors).
                    if option["nav"] == nav and position["status"] in ("VALID", "PUBLISHED"):
                        now = _now()
                        option.update(status="PO_PAID", paymentDate=now, pspCompany="Banca Simulata",
                                      idReceipt=f"R{nav}", paymentMethod="CP")
                        if all(o["status"] == "PO_PAID" for o in position["paymentOption"]):
                            position["status"] = "PAID"
                            position["paymentDate"] = now
                        else:
                            position["status"] = "PARTIALLY_PAID"
                        position["lastUpdatedDate"] = now
                        return True
        return False

    @staticmethod
    def _as_model(position: dict[str, Any]) -> dict[str, Any]:
        """PaymentPositionModel (createPosition/publishPosition responses)."""
        keep = {"iupd", "type", "payStandIn", "fiscalCode", "fullName", "streetName", "civicNumber", "postalCode",
                "city", "province", "region", "country", "email", "phone", "switchToExpired", "companyName",
                "officeName", "validityDate", "paymentDate", "status"}
        out = {k: v for k, v in position.items() if k in keep}
        option_keep = {"nav", "iuv", "amount", "description", "isPartialPayment", "dueDate", "retentionDate", "fee",
                       "notificationFee", "transfer", "paymentOptionMetadata"}
        out["paymentOption"] = [{k: v for k, v in o.items() if k in option_keep} for o in position["paymentOption"]]
        return out

    @staticmethod
    def _as_base_response(position: dict[str, Any]) -> dict[str, Any]:
        """PaymentPositionModelBaseResponse (getOrganizationDebtPositionByIUPD)."""
        keep = {"iupd", "organizationFiscalCode", "type", "companyName", "officeName", "insertedDate", "publishDate",
                "validityDate", "paymentDate", "status", "lastUpdatedDate"}
        out = {k: v for k, v in position.items() if k in keep}
        options = []
        for o in position["paymentOption"]:
            option = {k: v for k, v in o.items() if k not in ("paymentOptionMetadata", "transfer")}
            option["transfer"] = [
                {**{k: v for k, v in t.items() if k != "transferMetadata"},
                 "organizationFiscalCode": t.get("organizationFiscalCode", position["organizationFiscalCode"]),
                 "status": "T_UNREPORTED"}
                for t in o.get("transfer") or []
            ]
            options.append(option)
        out["paymentOption"] = options
        return out


def _transfer_errors(transfer: dict[str, Any]) -> list[str]:
    """What GPD and the @e.bollo service check beyond the schema: a transfer pays either an IBAN
    or a digital stamp (TransferModel: mutually exclusive), and a stamp carries the base64 SHA-256
    of the stamped document (32 bytes: 44 characters), 16 euro, type "01"."""
    stamp = transfer.get("stamp")
    if stamp is None:
        return [] if transfer.get("iban") else ["transfer: an IBAN or a stamp is required"]
    errs = []
    if transfer.get("iban") or transfer.get("postalIban"):
        errs.append("transfer.stamp: mutually exclusive with iban and postalIban")
    try:
        digest = base64.b64decode(str(stamp.get("hashDocument", "")), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        errs.append("transfer.stamp.hashDocument: not the base64 of a SHA-256 digest")
    if stamp.get("stampType") != "01":
        errs.append(f"transfer.stamp.stampType: unknown stamp type {stamp.get('stampType')!r}")
    if transfer.get("amount") != 1600:
        errs.append("transfer.amount: a digital stamp (marca da bollo digitale) is 16.00 euro")
    return errs


def create_app() -> GpdSimulator:
    return GpdSimulator()
