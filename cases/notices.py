"""Notices to citizens: one `notify.citizen` step that protocols a case's deed (out), picks the channel,
sends it, and later brings the delivery date back to the case.

Channel (issue 10, "Protocol and delivery"): App IO when the citizen has the municipality's service
active (a profile on IO that accepts our messages); otherwise SEND, to the PEC the citizen declared
for this procedure (SEND's "domicilio digitale speciale": the delivery receipt of that PEC comes back
as SEND's timeline) or, without one, to the digital domicile SEND finds (INAD) or by registered post.
A PEC address is never written to by Procedo itself: SEND gives the legal proof of delivery.

Delivery (the day the notice reached the citizen, from which e.g. the 10 days of art. 10-bis
L. 241/1990 run): App IO: the day the citizen read it (ADVANCED message read status), or the day it
was stored in their inbox when the read status is not available; SEND: the day of "perfezionamento"
for the recipient, i.e. the first of VIEWED and EFFECTIVE_DATE in its status history. The periodic
`notice_deliveries_poll` asks the platforms; when a notice is delivered and it names a
`delivery_message`, that BPMN message is delivered to the case with `{"delivered_on", "channel",
"notice_id"}`. Nobody waiting (the office recorded the delivery already): nothing happens to the case.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Tenant
from audit.services import audit_record
from common import clock
from common.errors import ProcedoError
from common.operations import OperationContext, PermanentError, get_operation

from .models import Case, CitizenNotice, NoticeChannel, NoticeStatus

logger = logging.getLogger(__name__)

APPIO_SUBJECT_MAX = 120
SEND_SUBJECT_MAX = 134
MARKDOWN_MIN = 80


def _sub(ctx: OperationContext, suffix: str) -> OperationContext:
    return OperationContext(tenant_id=ctx.tenant_id, tenant_istat=ctx.tenant_istat,
                            idempotency_key=f"{ctx.idempotency_key}:{suffix}", case_id=ctx.case_id,
                            case_number=ctx.case_number, attempt=ctx.attempt)


def _summary(notice: CitizenNotice) -> dict[str, Any]:
    return {"notice_id": notice.pk, "channel": notice.channel, "status": notice.status,
            "fiscal_code": notice.fiscal_code,
            "protocol_number": notice.protocol_number,
            "protocol_date": notice.protocol_date.isoformat() if notice.protocol_date else None,
            # The day the notice went out (art. 5 c. 3 DL 5/2012: the 10-bis notice must be *sent*
            # within the 45 days for silence-assent not to arise).
            "sent_on": timezone.localtime(notice.sent_at).date().isoformat(),
            "delivered_on": notice.delivered_on.isoformat() if notice.delivered_on else None}


def _adult(person: dict[str, Any]) -> bool:
    """False only for someone whose declared birth date makes them a minor today (a minor's notices
    go to the declarant who declared for them)."""
    try:
        born = dt.date.fromisoformat(str(person.get("birth_date") or "")[:10])
    except ValueError:
        return True
    today = clock.today()
    return (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) >= 18


def greeting(person: dict[str, Any], body: str) -> str:
    """The text a recipient of a notice sent to several people reads: their name, then the body."""
    name = str(person.get("given_name") or "").strip()
    return f"Gentile {name},\n\n{body}" if name else body


def notify_citizens(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """`notify.citizen` with `recipients` (a list of people, e.g. the declarants): the deed is
    protocolled once and delivered to every adult among them, each through their own channel and
    tracked as their own notice (idempotency key per person: a retry sends nobody twice). `pec` and
    `address` of the params apply to a recipient who has none. The greeting names each person.
    Result: the first recipient's notice (as for one recipient) and `notices`, all of them."""
    people, seen = [], set()
    for person in params.get("recipients") or []:
        if not isinstance(person, dict):
            continue
        code = str(person.get("fiscal_code") or "").strip().upper()
        if code in seen or not _adult(person):
            continue
        seen.add(code)
        people.append({**person, "pec": person.get("pec") or params.get("pec") or "",
                       "address": person.get("address") or params.get("address")})
    if not people:
        raise PermanentError("params 'recipients' must name at least one adult person")
    body = str(params.get("markdown") or "").strip()
    sent = []
    for index, person in enumerate(people):
        one = {k: v for k, v in params.items() if k not in ("recipients", "pec", "address")}
        one["recipient"] = person
        one["markdown"] = greeting(person, body)
        # The deed is protocolled with the first notice; the others carry that protocol number.
        one["protocol"] = bool(params.get("protocol")) and index == 0
        sent.append(notify_citizen(one, ctx if index == 0 else _sub(ctx, f"to:{person['fiscal_code'].upper()}")))
    return {**sent[0], "notices": sent}


def _recipient(params: dict[str, Any]) -> dict[str, Any]:
    recipient = params.get("recipient")
    if not isinstance(recipient, dict):
        raise PermanentError("params 'recipient' {fiscal_code, given_name, family_name, pec, address} is required")
    fiscal_code = str(recipient.get("fiscal_code") or "").strip().upper()
    # An organisation (e.g. the crematorium a cremation authorisation goes to) has an 11-digit
    # fiscal code / VAT number and a name: SEND delivers to it as a legal person (PG).
    organisation = len(fiscal_code) == 11 and fiscal_code.isdigit()
    if not organisation and (len(fiscal_code) != 16 or not fiscal_code.isalnum()):
        raise PermanentError("recipient fiscal_code must be a 16-character fiscal code or an organisation's 11 digits")
    if organisation and not str(recipient.get("denomination") or "").strip():
        raise PermanentError("an organisation recipient needs its 'denomination'")
    return {**recipient, "fiscal_code": fiscal_code, "organisation": organisation}


def _physical_address(address: Any) -> dict[str, str] | None:
    if not isinstance(address, dict) or not address.get("street"):
        return None
    from forms.municipalities import label_for

    line = f"{address.get('street', '')} {address.get('house_number', '')}".strip()
    istat = str(address.get("municipality_istat") or "")
    return {"address": line[:1024], "zip": str(address.get("postal_code") or ""),
            "municipality": (label_for(istat) if istat else "")[:256] or "-"}


def _markdown(params: dict[str, Any], *, title: str, protocol: str) -> str:
    text = str(params.get("markdown") or "").strip() or title
    footer = ("Il documento firmato digitalmente è disponibile nella sua area personale sul sito del Comune"
              + (f" (protocollo {protocol})." if protocol else "."))
    text = f"{text}\n\n{footer}"
    return text if len(text) >= MARKDOWN_MIN else text + "\n\n" + "Ufficio Anagrafe del Comune."


def notify_citizen(params: dict[str, Any], ctx: OperationContext) -> dict[str, Any]:
    """The `notify.citizen` operation (see the module docstring). params: recipient {fiscal_code,
    given_name, family_name, pec, address}, kind, title, markdown, document_id (the signed deed: sent
    as the notice's document by SEND), protocol (true: protocol the deed, outgoing, first),
    delivery_message. Result: notice_id, channel, status, protocol_number, protocol_date."""
    from documents.models import Document

    if "recipients" in params:
        return notify_citizens(params, ctx)
    tenant = Tenant.objects.get(pk=ctx.tenant_id)
    case = Case.objects.filter(tenant=tenant, pk=ctx.case_id).first() if ctx.case_id else None
    if case is None:
        raise PermanentError("notify.citizen runs inside a case")
    existing = CitizenNotice.objects.filter(tenant=tenant, idempotency_key=ctx.idempotency_key).first()
    if existing is not None:
        return _summary(existing)
    recipient = _recipient(params)
    title = " ".join(str(params.get("title") or "").split())
    if len(title) < 10:
        raise PermanentError("params 'title' (10 characters at least) is required")
    kind = str(params.get("kind") or "comunicazione")[:50]
    document = None
    if params.get("document_id") not in (None, ""):
        try:
            document = Document.objects.get(tenant=tenant, case=case, pk=int(params["document_id"]))
        except (TypeError, ValueError, Document.DoesNotExist) as exc:
            raise PermanentError("params 'document_id' must name a document of this case") from exc
    protocol_number, protocol_date = "", None
    if document is not None and params.get("protocol"):
        from documents.protocol import document_protocol

        protocolled = document_protocol(
            tenant=tenant, document=document, direction="out", subject=title, classification=None, received_on=None,
            correspondent=({"type": "organization", "name": str(recipient.get("denomination") or ""),
                            "pec": str(recipient.get("pec") or ""), "fiscal_code": recipient["fiscal_code"]}
                           if recipient["organisation"] else
                           {"type": "person", "first_name": str(recipient.get("given_name") or ""),
                            "last_name": str(recipient.get("family_name") or ""),
                            "fiscal_code": recipient["fiscal_code"]}),
            ctx=_sub(ctx, "protocol"))
        protocol_number = protocolled["protocol_number"]
        protocol_date = dt.date.fromisoformat(protocolled["protocol_date"])
    elif document is not None and document.protocol_number:
        protocol_number, protocol_date = document.protocol_number, document.protocol_date
    protocol_label = f"n. {protocol_number} del {protocol_date:%d/%m/%Y}" if protocol_number and protocol_date else ""

    channel, external_id = _send(tenant=tenant, case=case, ctx=ctx, recipient=recipient, title=title,
                                 document=document, params=params, protocol_label=protocol_label,
                                 protocol_number=protocol_number)
    now = clock.now()
    try:
        with transaction.atomic():
            notice = CitizenNotice.objects.create(
                tenant=tenant, case=case, document=document, kind=kind, title=title[:300],
                fiscal_code=recipient["fiscal_code"], channel=channel, external_id=external_id,
                protocol_number=protocol_number, protocol_date=protocol_date, status=NoticeStatus.SENT,
                delivery_message=str(params.get("delivery_message") or "")[:100],
                failure_message=str(params.get("failure_message") or "")[:100], sent_at=now,
                idempotency_key=ctx.idempotency_key,
            )
            audit_record(tenant=tenant, actor=None, action="create", object_type="citizen_notice",
                         object_id=str(notice.pk), object_repr=case.number,
                         summary=f"Inviata «{title[:120]}» tramite {NoticeChannel(channel).label}",
                         after={"channel": channel, "protocol_number": protocol_number, "kind": kind})
    except IntegrityError:
        notice = CitizenNotice.objects.get(tenant=tenant, idempotency_key=ctx.idempotency_key)
    return _summary(notice)


def _send(*, tenant: Tenant, case: Case, ctx: OperationContext, recipient: dict[str, Any], title: str,
          document: Any, params: dict[str, Any], protocol_label: str, protocol_number: str) -> tuple[str, str]:
    from connectors.appio.client import AppIoClient

    fiscal_code = recipient["fiscal_code"]
    organisation = recipient["organisation"]
    profile = None if organisation else AppIoClient.from_config(tenant).get_profile(fiscal_code)
    if profile is not None and profile.on_io and profile.sender_allowed:
        appio = AppIoClient.from_config(tenant)
        # ADVANCED: App IO tells us when the citizen read it (the delivery date of the notice).
        message_id = appio.submit_message(fiscal_code, subject=title[:APPIO_SUBJECT_MAX],
                                          markdown=_markdown(params, title=title, protocol=protocol_label),
                                          feature_level_type="ADVANCED")
        return NoticeChannel.APPIO, message_id
    if document is None or document.mime != "application/pdf":
        raise PermanentError("the recipient is not reachable on App IO and SEND needs the notice as a PDF document")
    from documents import storage

    pec = str(recipient.get("pec") or "").strip()
    send_params = {
        "subject": title[:SEND_SUBJECT_MAX],
        # SEND's abstract is one line (pattern ^.*$).
        "abstract": " ".join(str(params.get("markdown") or "").split())[:1024] or title,
        "pa_protocol_number": protocol_number or case.number,
        "recipient": {"tax_id": fiscal_code, "recipient_type": "PG" if organisation else "PF",
                      "denomination": (str(recipient.get("denomination") or "").strip() if organisation else
                                       f"{recipient.get('given_name', '')} {recipient.get('family_name', '')}".strip())
                      or fiscal_code,
                      "digital_domicile": pec, "physical_address": _physical_address(recipient.get("address"))},
        "documents": [{"title": document.title or title,
                       "content_base64": base64.b64encode(storage.get(document.sha256)).decode("ascii")}],
    }
    created = get_operation("send.create_notification")(send_params, _sub(ctx, "send"))
    return (NoticeChannel.PEC if pec else NoticeChannel.SEND), str(created["notification_request_id"])


# --------------------------------------------------------------------------- delivery


def _local_date(iso: str) -> dt.date:
    when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return timezone.localtime(when).date()


def _appio_state(notice: CitizenNotice) -> tuple[dt.date | None, str]:
    from connectors.appio.client import AppIoClient

    status = AppIoClient.from_config(notice.tenant).get_message(notice.fiscal_code, notice.external_id)
    if status is None:
        return None, "App IO non conosce il messaggio"
    if status.status in ("FAILED", "REJECTED"):
        return None, f"App IO: {status.status}"
    if status.status == "PROCESSED" and status.read_status in ("READ", "UNAVAILABLE"):
        return clock.today(), ""
    return None, ""


def _send_state(notice: CitizenNotice) -> tuple[dt.date | None, str]:
    from connectors.send.client import SendClient

    client = SendClient.from_config(notice.tenant)
    request = client.request_status(notification_request_id=notice.external_id)
    if request is None:
        return None, "SEND non conosce la richiesta"
    if request["notificationRequestStatus"] == "REFUSED":
        errors = "; ".join(str(e.get("detail") or e.get("code")) for e in request.get("errors") or [])
        return None, f"SEND ha rifiutato la notifica: {errors}"[:300]
    iun = request.get("iun")
    if not iun:
        return None, ""
    if notice.iun != iun:
        CitizenNotice.objects.filter(pk=notice.pk).update(iun=iun)
    sent = client.notification(iun)
    for step in sent.get("notificationStatusHistory") or []:
        if step.get("status") in ("VIEWED", "EFFECTIVE_DATE"):
            return _local_date(step["activeFrom"]), ""
        if step.get("status") in ("CANCELLED", "UNREACHABLE"):
            return None, f"SEND: {step['status']}"
    return None, ""


def _siblings(notice: CitizenNotice) -> list[CitizenNotice]:
    """The notices of the same deed sent by the same step to each recipient (this one included)."""
    if notice.document_id is None:
        return [CitizenNotice.objects.get(pk=notice.pk)]
    return list(CitizenNotice.objects.filter(tenant_id=notice.tenant_id, case_id=notice.case_id,
                                             document_id=notice.document_id,
                                             delivery_message=notice.delivery_message))


_STATE = {NoticeChannel.APPIO: _appio_state, NoticeChannel.SEND: _send_state, NoticeChannel.PEC: _send_state}


def notice_deliveries_poll(*, limit: int = 500) -> int:
    """Ask the platforms about every notice still waiting for delivery; record the delivery date and
    tell the case. Returns how many notices were found delivered. Safe to run twice at once: a
    notice changes state only from `sent` (conditional UPDATE), and only the winner tells the case."""
    from engine.services import deliver_message

    from .projection import project

    delivered = 0
    pending = CitizenNotice.objects.filter(status=NoticeStatus.SENT).select_related("tenant", "case").order_by(
        "last_checked_at", "pk")[:limit]
    for notice in pending:
        try:
            delivered_on, failure = _STATE[NoticeChannel(notice.channel)](notice)
        except ProcedoError as exc:
            logger.warning("notice %s (%s): delivery status not available: %s", notice.pk, notice.channel, exc)
            CitizenNotice.objects.filter(pk=notice.pk).update(last_checked_at=clock.now())
            continue
        now = clock.now()
        if failure:
            won = CitizenNotice.objects.filter(pk=notice.pk, status=NoticeStatus.SENT).update(
                status=NoticeStatus.FAILED, status_detail=failure[:300], last_checked_at=now)
            logger.warning("notice %s of case %s not delivered: %s", notice.pk, notice.case.number, failure)
            if won and notice.failure_message:
                audit_record(tenant=notice.tenant, actor=None, action="update", object_type="citizen_notice",
                             object_id=str(notice.pk), object_repr=notice.case.number,
                             summary=f"Non consegnata ({NoticeChannel(notice.channel).label}): {failure[:200]}",
                             after={"status": NoticeStatus.FAILED})
                # The office delivers it another way (registered post, the municipal messenger).
                caught = deliver_message(
                    tenant=notice.tenant, name=notice.failure_message, correlation_key=notice.case.number,
                    payload={"notice_id": notice.pk, "fiscal_code": notice.fiscal_code, "channel": notice.channel,
                             "reason": failure[:300]}, projector=project)
                if not caught:
                    logger.info("notice %s failed; case %s no longer waits for %s", notice.pk, notice.case.number,
                                notice.failure_message)
            continue
        if delivered_on is None:
            CitizenNotice.objects.filter(pk=notice.pk).update(last_checked_at=now)
            continue
        won = CitizenNotice.objects.filter(pk=notice.pk, status=NoticeStatus.SENT).update(
            status=NoticeStatus.DELIVERED, delivered_on=delivered_on, last_checked_at=now)
        if not won:
            continue
        delivered += 1
        audit_record(tenant=notice.tenant, actor=None, action="update", object_type="citizen_notice",
                     object_id=str(notice.pk), object_repr=notice.case.number,
                     summary=f"Consegnata il {delivered_on:%d/%m/%Y} ({NoticeChannel(notice.channel).label})",
                     after={"delivered_on": delivered_on.isoformat()})
        if notice.delivery_message:
            # A notice sent to several people (each declarant) is delivered when the last of them
            # has it: the window that follows (10 days for observations) must not run for anybody
            # before they received it. Until then the case waits.
            siblings = _siblings(notice)
            if any(s.status != NoticeStatus.DELIVERED for s in siblings):
                continue
            last = max(s.delivered_on for s in siblings)
            caught = deliver_message(
                tenant=notice.tenant, name=notice.delivery_message, correlation_key=notice.case.number,
                payload={"delivered_on": last.isoformat(), "channel": notice.channel, "notice_id": notice.pk,
                         "recipients": len(siblings)},
                projector=project)
            if not caught:
                logger.info("notice %s delivered; case %s no longer waits for %s", notice.pk, notice.case.number,
                            notice.delivery_message)
    return delivered
