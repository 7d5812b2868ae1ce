"""Writes of the citizen area. Each takes the tenant and the citizen explicitly and acts only on
what is theirs: a case where they are a subject, a document in their dossier, a pagoPA position
where they are the debtor. Cases are started and answered through cases.services (the same rules
as the API: channel `portal`, received today, only messages the manifest gives to citizens)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from accounts.roles import Role
from accounts.selectors import roles_for
from audit.services import audit_record
from cases import services as case_services
from cases.models import Case, CaseSubject
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused, ProcedoError, ValidationFailed
from documents.errors import FileRejected
from documents.models import Document, DossierEntry, Origin
from documents.services import attachment_store
from registry.certificates import fastpdf

from . import pdf
from .models import (
    CaseReply,
    CertificateRequest,
    CertificateRequestStatus,
    CitizenProfile,
    MilestoneNotice,
    ProtocolStatus,
    Submission,
    SubmissionDraft,
)

logger = logging.getLogger(__name__)

MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_REPLY_CHARS = 5000
PROTOCOL_MAX_ATTEMPTS = 20


def _citizen(tenant: Tenant, user: User) -> str:
    """The citizen's fiscal code, or a refusal for anyone who is not a citizen of this tenant."""
    if Role.CITIZEN not in roles_for(user=user, tenant=tenant) or not user.fiscal_code:
        raise PermissionRefused(_("L'area personale è riservata ai cittadini."), code="citizens_only")
    return user.fiscal_code.upper()


# --------------------------------------------------------------------------- profile


def profile_for(*, tenant: Tenant, user: User) -> CitizenProfile:
    """The citizen's preferences in this municipality, linked to their register entry when there is one."""
    from registry.models import Person

    own = _citizen(tenant, user)
    profile = CitizenProfile.objects.filter(tenant=tenant, user=user).select_related("person").first()
    if profile is None:
        try:
            with transaction.atomic():
                profile = CitizenProfile.objects.create(tenant=tenant, user=user, email=user.email or "",
                                                        updated_at=clock.now())
        except IntegrityError:
            profile = CitizenProfile.objects.get(tenant=tenant, user=user)
    if profile.person_id is None or profile.person.fiscal_code.upper() != own:
        person = Person.objects.for_tenant(tenant).filter(fiscal_code=own, death_date__isnull=True).first()
        if person is not None and person.pk != profile.person_id:
            CitizenProfile.objects.filter(pk=profile.pk).update(person=person)
            profile.person = person
    return profile


def profile_update(*, tenant: Tenant, user: User, io_opt_in: bool, email_opt_in: bool, email: str,
                   ip: str | None = None) -> CitizenProfile:
    from django.core.exceptions import ValidationError as DjangoValidationError
    from django.core.validators import validate_email

    profile = profile_for(tenant=tenant, user=user)
    email = (email or "").strip()[:254]
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            raise ValidationFailed(_("Indirizzo email non valido."),
                                   details={"email": [_("Indirizzo email non valido.")]}) from None
    if email_opt_in and not email:
        raise ValidationFailed(_("Per ricevere i messaggi per email indica l'indirizzo."),
                               details={"email": [_("Campo obbligatorio.")]})
    before = {"io": profile.io_opt_in, "email": profile.email_opt_in}
    profile.io_opt_in, profile.email_opt_in, profile.email = bool(io_opt_in), bool(email_opt_in), email
    profile.updated_at = clock.now()
    profile.save(update_fields=["io_opt_in", "email_opt_in", "email", "updated_at"])
    audit_record(tenant=tenant, actor=user, action="update", object_type="portal_profile", object_id=str(profile.pk),
                 object_repr=user.fiscal_code, summary="Preferenze di notifica aggiornate",
                 before=before, after={"io": profile.io_opt_in, "email": profile.email_opt_in}, ip=ip)
    return profile


# --------------------------------------------------------------------------- drafts


def draft_for(*, tenant: Tenant, user: User, process_id: str) -> SubmissionDraft:
    """The citizen's draft of this procedure's request, created empty (their own data filled in)."""
    _citizen(tenant, user)
    draft = SubmissionDraft.objects.filter(tenant=tenant, user=user, process_id=process_id).first()
    if draft is not None:
        return draft
    now = clock.now()
    try:
        with transaction.atomic():
            return SubmissionDraft.objects.create(tenant=tenant, user=user, process_id=process_id, data={},
                                                  created_at=now, updated_at=now)
    except IntegrityError:
        return SubmissionDraft.objects.get(tenant=tenant, user=user, process_id=process_id)


def draft_save(*, draft: SubmissionDraft, data: dict[str, Any], step: int) -> SubmissionDraft:
    if len(json.dumps(data, default=str)) > 200_000:
        raise ValidationFailed(_("La domanda è troppo lunga."), details={"data": [_("Dati troppo lunghi.")]})
    draft.data = data
    draft.step = max(0, step)
    draft.updated_at = clock.now()
    draft.save(update_fields=["data", "step", "updated_at"])
    return draft


def draft_discard(*, tenant: Tenant, user: User, process_id: str) -> None:
    SubmissionDraft.objects.filter(tenant=tenant, user=user, process_id=process_id).delete()


def drafts_purge(*, now: dt.datetime | None = None) -> int:
    """Drop drafts untouched for PROCEDO_PORTAL_DRAFT_DAYS (a year at least, settings refuse less)."""
    limit = (now or clock.now()) - dt.timedelta(days=settings.PROCEDO_PORTAL_DRAFT_DAYS)
    deleted, _detail = SubmissionDraft.objects.filter(updated_at__lt=limit).delete()
    return deleted


def _store_file(*, tenant: Tenant, user: User, case: Case | None, data: bytes, filename: str,
                ip: str | None) -> Document:
    """A citizen's file, checked by content (PDF, JPEG, PNG, TIFF) and size by documents.services."""
    return attachment_store(tenant=tenant, user=user, case=case, data=data, filename=filename,
                            kind="allegato_cittadino", max_bytes=MAX_ATTACHMENT_BYTES, ip=ip)


def draft_attachment_add(*, draft: SubmissionDraft, user: User, data: bytes, filename: str, label: str,
                         ip: str | None = None) -> dict[str, Any]:
    if len(draft.attachments) >= MAX_ATTACHMENTS:
        raise ValidationFailed(_("Puoi allegare al massimo %(n)s file.") % {"n": MAX_ATTACHMENTS},
                               details={"attachment": [_("Troppi allegati.")]})
    doc = _store_file(tenant=draft.tenant, user=user, case=None, data=data, filename=filename, ip=ip)
    entry = {"document_id": doc.pk, "name": doc.filename, "label": " ".join((label or "").split())[:200],
             "size": doc.size, "media_type": doc.mime}
    draft.attachments = [*draft.attachments, entry]
    draft.updated_at = clock.now()
    draft.save(update_fields=["attachments", "updated_at"])
    return entry


def draft_attachment_remove(*, draft: SubmissionDraft, document_id: int) -> None:
    kept = [a for a in draft.attachments if a.get("document_id") != document_id]
    if len(kept) != len(draft.attachments):
        draft.attachments = kept
        draft.updated_at = clock.now()
        draft.save(update_fields=["attachments", "updated_at"])


# --------------------------------------------------------------------------- submission


def submission_submit(*, tenant: Tenant, user: User, process_id: str, ip: str | None = None) -> Submission:
    """File the draft: the case starts (channel portal, received today: cases.services.case_start),
    the attachments join the case and the citizen's dossier, the request as filed is kept as a PDF,
    then the protocol registration and the sealed receipt (retried by the beat job if the protocol
    is down: the submission is never lost)."""
    own = _citizen(tenant, user)
    draft = SubmissionDraft.objects.filter(tenant=tenant, user=user, process_id=process_id).first()
    if draft is None:
        raise NotFound(_("Nessuna domanda in compilazione."))
    case = case_services.case_start(tenant=tenant, user=user, process_id=process_id, data=dict(draft.data),
                                    channel="portal", received_on=clock.today().isoformat(), ip=ip)
    now = clock.now()
    attachment_ids = [a["document_id"] for a in draft.attachments if isinstance(a.get("document_id"), int)]
    with transaction.atomic():
        docs = list(Document.objects.filter(tenant=tenant, pk__in=attachment_ids, case__isnull=True))
        Document.objects.filter(pk__in=[d.pk for d in docs]).update(case=case)
        DossierEntry.objects.bulk_create([
            DossierEntry(tenant=tenant, fiscal_code=own, document=d, document_type=d.kind, date=now.date(),
                         origin=Origin.CITIZEN, case=case, created_at=now) for d in docs])
        submission = Submission.objects.create(tenant=tenant, case=case, user=user, submitted_at=now)
        draft.delete()
    application = _application_pdf(submission, docs)
    Submission.objects.filter(pk=submission.pk).update(application=application)
    submission.application = application
    try:
        submission_protocol(submission_id=submission.pk)
    except ProcedoError as exc:  # the protocol platform is down: the beat job retries
        logger.warning("protocol registration of submission %s deferred: %s", submission.pk, exc)
    submission.refresh_from_db()
    return submission


def _application_pdf(submission: Submission, attachments: list[Document]) -> Document:
    from cases.presenters import readable
    from engine.bundles import version_by_id

    case = submission.case
    version = version_by_id(case.process_version_id)
    lines = [fastpdf.Line(_("Procedimento: %(p)s") % {"p": version.definition.name}),
             fastpdf.Line(_("Pratica n. %(n)s, presentata online il %(d)s") % {
                 "n": case.number, "d": submission.submitted_at.strftime("%d/%m/%Y")}),
             fastpdf.Line(_("Richiedente: %(name)s (%(cf)s)") % {
                 "name": submission.user.get_full_name(), "cf": submission.user.fiscal_code}, space_before=4)]
    for label, value in readable(case.data, version, result_titles={}):
        lines.append(fastpdf.Line(f"{label}: {value}"[:600], space_before=3))
    if attachments:
        lines.append(fastpdf.Line(_("Allegati:"), bold=True, space_before=6))
        lines += [fastpdf.Line(f"- {d.filename} (SHA-256 {d.sha256[:16]}…)", indent=8) for d in attachments]
    body = pdf.plain_pdf(tenant=case.tenant, title=_("Domanda: %(t)s") % {"t": version.definition.name},
                         lines=lines, qr_text=f"{case.number}",
                         footer=[_("Domanda presentata tramite i servizi online del Comune."),
                                 _("Pratica n. %(n)s") % {"n": case.number}])
    from documents import storage

    sha = storage.put(body)
    return Document.objects.create(tenant=case.tenant, kind="domanda_online", title=_("Domanda presentata online"),
                                   sha256=sha, filename=f"domanda-{case.number.replace('/', '-')}.pdf",
                                   mime="application/pdf", size=len(body), case=case, created_at=clock.now(),
                                   idempotency_key=f"portal-application:{submission.pk}")


def submission_protocol(*, submission_id: int) -> Submission:
    """Register the request in the municipality's protocol (operation `protocol.register`, incoming,
    idempotent by the submission) and issue the sealed receipt with the protocol number."""
    from common.operations import OperationContext, get_operation

    submission = Submission.objects.select_related("case", "user", "application", "tenant").get(pk=submission_id)
    if submission.protocol_status == ProtocolStatus.DONE and submission.receipt_id:
        return submission
    case, tenant = submission.case, submission.tenant
    if submission.protocol_status != ProtocolStatus.DONE:
        attachments = Document.objects.filter(case=case, kind="allegato_cittadino",
                                              dossier_entries__origin=Origin.CITIZEN).distinct()
        params = {
            "direction": "in",
            "subject": f"{case.title} - domanda online pratica {case.number}"[:200],
            "correspondent": {"type": "person", "first_name": submission.user.first_name,
                              "last_name": submission.user.last_name, "fiscal_code": submission.user.fiscal_code},
            "document": {"filename": submission.application.filename, "sha256": submission.application.sha256,
                         "mime_type": "application/pdf"},
            "attachments": [{"filename": d.filename, "sha256": d.sha256, "mime_type": d.mime} for d in attachments],
        }
        ctx = OperationContext(tenant_id=tenant.pk, tenant_istat=tenant.istat_code,
                               idempotency_key=f"portal-submission-{submission.pk}", case_id=case.pk,
                               case_number=case.number, attempt=submission.protocol_attempts + 1)
        Submission.objects.filter(pk=submission.pk).update(protocol_attempts=submission.protocol_attempts + 1)
        operation = get_operation("protocol.register")
        try:
            result = operation(params, ctx)
        except ProcedoError as exc:
            Submission.objects.filter(pk=submission.pk).update(protocol_error=str(exc)[:300])
            raise
        submission.protocol_number = str(result["protocol_number"])
        submission.protocol_date = dt.date.fromisoformat(str(result["protocol_date"])[:10])
        submission.protocol_status = ProtocolStatus.DONE
        Submission.objects.filter(pk=submission.pk).update(
            protocol_number=submission.protocol_number, protocol_date=submission.protocol_date,
            protocol_status=ProtocolStatus.DONE, protocol_error="")
    if not submission.receipt_id:
        submission.receipt = _receipt_issue(submission)
        Submission.objects.filter(pk=submission.pk).update(receipt=submission.receipt)
    return submission


def _receipt_issue(submission: Submission) -> Document:
    case, tenant = submission.case, submission.tenant
    key = f"portal-receipt:{submission.pk}"
    existing = Document.objects.filter(tenant=tenant, idempotency_key=key).first()
    if existing is not None:
        return existing
    attachments = list(Document.objects.filter(case=case, kind="allegato_cittadino").order_by("pk"))
    lines = [
        fastpdf.Line(_("Si attesta che la domanda è stata ricevuta tramite i servizi online."), space_before=4),
        fastpdf.Line(_("Procedimento: %(p)s") % {"p": case.title}, space_before=6),
        fastpdf.Line(_("Pratica n. %(n)s") % {"n": case.number}),
        fastpdf.Line(_("Richiedente: %(name)s, codice fiscale %(cf)s") % {
            "name": submission.user.get_full_name(), "cf": submission.user.fiscal_code}),
        fastpdf.Line(_("Ricevuta il %(d)s (data da cui decorrono i termini del procedimento)") % {
            "d": submission.submitted_at.astimezone().strftime("%d/%m/%Y %H:%M")}),
        fastpdf.Line(_("Protocollo n. %(n)s del %(d)s") % {
            "n": submission.protocol_number, "d": submission.protocol_date.strftime("%d/%m/%Y")}, bold=True),
    ]
    if case.legal_due_date:
        lines.append(fastpdf.Line(_("Termine di conclusione del procedimento: %(d)s") % {
            "d": case.legal_due_date.strftime("%d/%m/%Y")}))
    lines.append(fastpdf.Line(_("Documenti presentati:"), bold=True, space_before=6))
    lines.append(fastpdf.Line(f"- {submission.application.filename} (SHA-256 {submission.application.sha256[:16]}…)",
                              indent=8))
    lines += [fastpdf.Line(f"- {d.filename} (SHA-256 {d.sha256[:16]}…)", indent=8) for d in attachments]
    body, code, level = pdf.sealed_pdf(tenant=tenant, title=_("Ricevuta di presentazione della domanda"), lines=lines)
    from documents import storage

    sha = storage.put(body)
    now = clock.now()
    with transaction.atomic():
        doc = Document.objects.create(
            tenant=tenant, kind="ricevuta_domanda", title=_("Ricevuta di presentazione"), sha256=sha,
            filename=f"ricevuta-{case.number.replace('/', '-')}.pdf", mime="application/pdf", size=len(body),
            signed=True, signature_level=level, verification_code=code, case=case, idempotency_key=key,
            created_at=now)
        DossierEntry.objects.create(tenant=tenant, fiscal_code=submission.user.fiscal_code.upper(), document=doc,
                                    document_type="ricevuta_domanda", date=now.date(),
                                    protocol_number=submission.protocol_number,
                                    protocol_date=submission.protocol_date, origin=Origin.OFFICE, case=case,
                                    created_at=now)
        audit_record(tenant=tenant, actor=None, action="sign", object_type="document", object_id=str(doc.pk),
                     object_repr=doc.filename, summary=f"Ricevuta della domanda online {case.number}",
                     case_id=case.pk, after={"sha256": sha, "protocol": submission.protocol_number})
    return doc


def submissions_protocol_pending() -> int:
    """Beat job: protocol (and receipt) for the submissions still waiting; a few attempts each."""
    done = 0
    for pk in Submission.objects.filter(protocol_status=ProtocolStatus.PENDING,
                                        protocol_attempts__lt=PROTOCOL_MAX_ATTEMPTS).values_list("pk", flat=True)[:100]:
        try:
            submission_protocol(submission_id=pk)
            done += 1
        except ProcedoError as exc:
            logger.warning("protocol registration of submission %s failed again: %s", pk, exc)
    return done


# --------------------------------------------------------------------------- answers and withdrawal


def case_reply(*, tenant: Tenant, user: User, case_id: int, message: str, text: str,
               files: list[tuple[bytes, str]], ip: str | None = None) -> CaseReply:
    """The citizen answers the office (a message the manifest gives to citizens and the case is
    waiting for): the text and the files go to the case and the dossier, the message to the engine."""
    from cases.selectors import case_get

    own = _citizen(tenant, user)
    case = case_get(tenant=tenant, user=user, case_id=case_id)  # NotFound unless they are a subject
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("Scrivi la risposta."), details={"text": [_("Campo obbligatorio.")]})
    if len(text) > MAX_REPLY_CHARS:
        raise ValidationFailed(_("La risposta è troppo lunga."),
                               details={"text": [_("Al massimo %(n)s caratteri.") % {"n": MAX_REPLY_CHARS}]})
    if len(files) > MAX_ATTACHMENTS:
        raise ValidationFailed(_("Puoi allegare al massimo %(n)s file.") % {"n": MAX_ATTACHMENTS},
                               details={"files": [_("Troppi allegati.")]})
    # Refuse early (nothing stored) what the message rules refuse anyway.
    from engine.bundles import version_by_id
    from engine.manifest import manifest_of

    if Role.CITIZEN not in manifest_of(version_by_id(case.process_version_id)).message_roles(message):
        raise PermissionRefused(_("Non puoi inviare questa risposta."), code="message_not_allowed")
    stored: list[Document] = []
    for data, name in files:
        try:
            stored.append(_store_file(tenant=tenant, user=user, case=case, data=data, filename=name, ip=ip))
        except FileRejected as exc:
            raise ValidationFailed(exc.message, details={"files": [f"{name[:100]}: {exc.message}"]}) from exc
    payload = {"text": text, "attachments": [{"document_id": d.pk, "name": d.filename, "sha256": d.sha256}
                                             for d in stored]}
    case_services.case_message_deliver(case=case, user=user, message=message, payload=payload, ip=ip)
    now = clock.now()
    with transaction.atomic():
        DossierEntry.objects.bulk_create([
            DossierEntry(tenant=tenant, fiscal_code=own, document=d, document_type=d.kind, date=now.date(),
                         origin=Origin.CITIZEN, case=case, created_at=now) for d in stored])
        reply = CaseReply.objects.create(tenant=tenant, case=case, user=user, message=message, text=text,
                                         attachments=payload["attachments"], created_at=now)
    return reply


# --------------------------------------------------------------------------- payments


def payment_checkout_url(*, tenant: Tenant, user: User, position_id: int, return_url: str) -> str:
    """The pagoPA Checkout page for one of the citizen's open positions; back to `return_url`."""
    from connectors.pagopa.client import CheckoutClient
    from connectors.pagopa.payments import OPEN_STATUSES

    from .selectors import position_get

    position = position_get(tenant=tenant, user=user, position_id=position_id)
    if position.paid_at is not None or position.status not in OPEN_STATUSES:
        raise Conflict(_("Questo avviso non è da pagare."), code="not_payable")
    client = CheckoutClient.from_config(tenant)
    return client.cart_create(
        notices=[{"noticeNumber": position.notice_number, "fiscalCode": position.organization_fiscal_code,
                  "amount": position.amount_cents, "companyName": tenant.name[:140],
                  "description": position.description[:140]}],
        return_ok=f"{return_url}?esito=ok", return_cancel=f"{return_url}?esito=annullato",
        return_error=f"{return_url}?esito=errore", email=user.email or "")


def payment_refresh(*, tenant: Tenant, user: User, position_id: int) -> bool:
    """Ask pagoPA now whether the position is paid (the citizen is back from the checkout)."""
    from connectors.pagopa.service import payment_status_get

    from .selectors import position_get

    position = position_get(tenant=tenant, user=user, position_id=position_id)
    if position.paid_at is not None:
        return True
    return bool(payment_status_get(tenant_id=tenant.pk, iupd=position.iupd).get("paid"))


def notice_pdf(*, tenant: Tenant, user: User, position_id: int) -> bytes:
    """The pagoPA payment notice (avviso) of one of the citizen's positions, with the pagoPA QR code."""
    from payments.notices import notice_pdf as position_notice_pdf

    from .selectors import position_get

    return position_notice_pdf(tenant=tenant, position=position_get(tenant=tenant, user=user, position_id=position_id))


# --------------------------------------------------------------------------- certificates online


def certificate_request_create(*, tenant: Tenant, user: User, kind: str, other_fiscal_code: str = "",
                               purpose: str = "", use_code: int | None = None, use_note: str = "",
                               ip: str | None = None) -> CertificateRequest:
    """Ask a certificate: about oneself (the register entry linked to the account) or another person
    (their fiscal code and the use stated). Exempt by the use declared: issued now. Otherwise a
    pagoPA position for the stamp duty (16 euro) is created and the certificate is issued once paid."""
    from connectors.pagopa.service import debt_position_create
    from registry.certificates.catalogue import CATALOGUE
    from registry.certificates.services import ONLINE_THIRD_PARTY_KINDS, STAMP_DUTY_CENTS
    from registry.models import Person

    own = _citizen(tenant, user)
    spec = CATALOGUE.get(kind)
    if spec is None:
        raise ValidationFailed(_("Certificato non previsto."), details={"kind": [_("Scegli un certificato.")]})
    other = (other_fiscal_code or "").strip().upper()
    for_other = bool(other) and other != own
    purpose = " ".join((purpose or "").split())[:300]
    if for_other:
        if kind not in ONLINE_THIRD_PARTY_KINDS:
            raise PermissionRefused(_("Questo certificato si può chiedere online solo per sé stessi."),
                                    code="certificate_not_for_others")
        if len(purpose) < 5:
            raise ValidationFailed(_("Indica l'uso per cui chiedi il certificato di un'altra persona."),
                                   details={"purpose": [_("Campo obbligatorio.")]})
    wanted = other if for_other else own
    person = Person.objects.for_tenant(tenant).filter(fiscal_code=wanted).order_by("death_date").first()
    if person is None:
        raise ValidationFailed(
            _("Nel registro del Comune non c'è una persona con questo codice fiscale.") if for_other
            else _("Non risulti iscritto nel registro di questo Comune: chiedi il certificato al tuo Comune."),
            details={"other_fiscal_code" if for_other else "kind": [_("Persona non trovata.")]})
    from registry.certificates.services import certificate_issuable

    certificate_issuable(tenant=tenant, person_id=person.pk, kind=kind)  # refused before anything is paid
    request = CertificateRequest.objects.create(
        tenant=tenant, user=user, person=person, kind=kind, for_other=for_other, purpose=purpose,
        use_code=use_code, use_note=use_note[:200], request_id=uuid.uuid4(),
        status=CertificateRequestStatus.AWAITING_PAYMENT, created_at=clock.now())
    audit_record(tenant=tenant, actor=user, action="create", object_type="certificate_request",
                 object_id=str(request.pk), object_repr=f"{kind} {person.fiscal_code}",
                 summary=f"Richiesta online di {spec.title}" + (" per altra persona" if for_other else ""),
                 after={"kind": kind, "person": person.pk, "for_other": for_other, "purpose": purpose,
                        "use_code": use_code}, ip=ip)
    if spec.stamp_exemption or use_code is not None:
        return certificate_request_issue(request_id=request.pk, ip=ip)
    result = debt_position_create(
        tenant_id=tenant.pk, idempotency_key=f"portal-certificate:{request.request_id}",
        params={"amount_cents": STAMP_DUTY_CENTS, "kind": "fee",
                "description": f"Imposta di bollo - {spec.title}"[:140],
                "debtor_fiscal_code": own, "debtor_name": user.get_full_name() or own,
                "due_date": (clock.today() + dt.timedelta(days=30)).isoformat()})
    from connectors.pagopa.models import DebtPosition

    position = DebtPosition.objects.get(tenant=tenant, iupd=result["iupd"])
    CertificateRequest.objects.filter(pk=request.pk).update(position=position)
    request.position = position
    return request


def certificate_request_issue(*, request_id: int, ip: str | None = None) -> CertificateRequest:
    """Issue the certificate of a request that is exempt or whose stamp duty is paid (idempotent)."""
    from registry.certificates.services import certificate_issue_online

    request = CertificateRequest.objects.select_related("user", "tenant", "position").get(pk=request_id)
    if request.status == CertificateRequestStatus.ISSUED:
        return request
    [certificate] = certificate_issue_online(
        tenant=request.tenant, user=request.user, person_id=request.person_id, kind=request.kind,
        use_code=request.use_code, use_note=request.use_note, paid_position_id=request.position_id,
        request_id=request.request_id, ip=ip)
    request.document = certificate.document
    request.status = CertificateRequestStatus.ISSUED
    request.issued_at = clock.now()
    request.save(update_fields=["document", "status", "issued_at"])
    if request.for_other:
        # The requester's own copy: filed in their dossier too, so that they can download it.
        DossierEntry.objects.get_or_create(
            tenant=request.tenant, document=certificate.document, fiscal_code=request.user.fiscal_code.upper(),
            defaults={"document_type": certificate.document.kind, "date": request.issued_at.date(),
                      "origin": Origin.OFFICE, "created_at": request.issued_at})
    return request


def certificate_request_after_payment(*, tenant: Tenant, user: User, request_id: int,
                                      ip: str | None = None) -> CertificateRequest:
    """Back from the checkout: if pagoPA says the position is paid, issue the certificate now."""
    from .selectors import certificate_request_get

    request = certificate_request_get(tenant=tenant, user=user, request_id=request_id)
    if request.status == CertificateRequestStatus.AWAITING_PAYMENT and request.position_id:
        if payment_refresh(tenant=tenant, user=user, position_id=request.position_id):
            request = certificate_request_issue(request_id=request.pk, ip=ip)
    return request


def certificate_requests_paid_issue() -> int:
    """Beat job: issue the certificates paid by citizens who never came back from the checkout."""
    issued = 0
    for request in CertificateRequest.objects.filter(status=CertificateRequestStatus.AWAITING_PAYMENT,
                                                     position__paid_at__isnull=False)[:100]:
        try:
            certificate_request_issue(request_id=request.pk)
            issued += 1
        except ProcedoError as exc:
            logger.warning("certificate request %s not issued: %s", request.pk, exc)
    return issued


# --------------------------------------------------------------------------- milestone notifications


def milestones_notify(*, limit: int = 500) -> int:
    """Beat sweep (the safety net of `case_milestones_notify`, which runs at the milestone itself): tell each
    opted-in citizen about every public milestone their open cases reached since the last message (App IO
    with a deep link to the case; email when not on IO or IO refuses). Once per milestone (MilestoneNotice);
    the first run for a case only records what was already reached."""
    from django.db.models import Q

    sent = 0
    profiles = CitizenProfile.objects.filter(models_q_opted_in()).select_related("user", "tenant")
    for profile in profiles.iterator():
        own = (profile.user.fiscal_code or "").upper()
        if not own:
            continue
        case_ids = CaseSubject.objects.filter(tenant=profile.tenant, fiscal_code=own).values("case_id")
        recent = Q(status="open") | Q(closed_at__gte=clock.now() - dt.timedelta(days=7))  # the outcome too
        for case in Case.objects.filter(recent, pk__in=case_ids).order_by("-updated_at")[:50]:
            sent += _case_milestones_tell(profile, case)
            if sent >= limit:
                return sent
    return sent


def case_milestones_notify(*, case_id: int) -> int:
    """At the milestone: the engine step of this case has committed (cases.signals.case_progressed,
    then portal.tasks.case_milestones_task); tell its opted-in subjects what public milestone it reached."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return 0
    codes = CaseSubject.objects.filter(tenant_id=case.tenant_id, case=case).values("fiscal_code")
    profiles = (CitizenProfile.objects.filter(models_q_opted_in(), tenant_id=case.tenant_id, user__fiscal_code__in=codes)
                .select_related("user", "tenant"))
    return sum(_case_milestones_tell(profile, case) for profile in profiles)


def _case_milestones_tell(profile: CitizenProfile, case: Case) -> int:
    """The public milestones of `case` not yet told to `profile`'s citizen: each is claimed first
    (MilestoneNotice, unique), then sent, so that the hook and the sweep never both send one."""
    from cases.selectors import case_progress
    from engine.bundles import version_by_id
    from engine.manifest import manifest_of

    manifest = manifest_of(version_by_id(case.process_version_id))
    if not manifest.public_milestones:
        return 0
    progress = case_progress(case=case)
    reached = set(progress["done"]) | set(progress["current"])
    known = set(MilestoneNotice.objects.filter(case=case, user=profile.user).values_list("element_id", flat=True))
    first_time = not known
    sent = 0
    for element, label in manifest.public_milestones:
        if element not in reached or element in known:
            continue
        try:
            with transaction.atomic():
                notice = MilestoneNotice.objects.create(tenant=profile.tenant, case=case, user=profile.user,
                                                        element_id=element, channel="none", sent_at=clock.now())
        except IntegrityError:
            continue  # told already (by the sweep or another worker)
        if first_time:
            continue
        notice.channel = _notify(profile, case, label)
        notice.save(update_fields=["channel"])
        sent += notice.channel != "none"
    return sent


def models_q_opted_in():
    from django.db.models import Q

    return Q(io_opt_in=True) | Q(email_opt_in=True)


def _notify(profile: CitizenProfile, case: Case, label: str) -> str:
    from django.core.mail import send_mail
    from django.urls import reverse

    from connectors.appio.client import AppIoClient

    link = f"{settings.PROCEDO_PUBLIC_BASE_URL}{reverse('portal:case', args=[case.pk])}"
    subject = f"Pratica {case.number}: aggiornamento"
    markdown = (f"La sua pratica **{case.number}** ({case.title}) è avanzata: **{label}**.\n\n"
                f"Trova i dettagli nella sua area personale: [apri la pratica]({link}).")
    if profile.io_opt_in:
        try:
            client = AppIoClient.from_config(profile.tenant_id)
            io_profile = client.get_profile(profile.user.fiscal_code.upper())
            if io_profile.on_io and io_profile.sender_allowed:
                client.submit_message(profile.user.fiscal_code.upper(), subject=subject, markdown=markdown)
                return "io"
        except ProcedoError as exc:
            logger.warning("App IO message for case %s not sent: %s", case.pk, exc)
    if profile.email_opt_in and profile.email:
        send_mail(subject, markdown.replace("**", ""), None, [profile.email], fail_silently=True)
        return "email"
    return "none"
