"""Writes of the online notice board: publish, withdraw, close an ended publication with its
signed report (referto di pubblicazione).

Other apps post through `publication_create` (the engine through the `noticeboard.publish`
operation); every write is audited in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from accounts.roles import Role
from accounts.selectors import roles_for
from audit.services import audit_record
from common import clock
from common.errors import Conflict, NotFound, PermissionRefused, ValidationFailed

from .models import Category, NoticeboardSettings, Publication, PublicationCounter
from .privacy import contains_fiscal_code

logger = logging.getLogger(__name__)

# Who runs the notice board in a municipality (the "responsabile" and the registry officers).
PUBLISHER_ROLES = frozenset({Role.SUPERVISOR, Role.CIVIL_REGISTRAR, Role.REGISTRAR})
# Art. 55 D.P.R. 396/2000: marriage banns stay on the notice board for eight consecutive days.
BANNS_DAYS = 8
MAX_DAYS = 365
TITLE_MAX = 300
BODY_MAX = 10_000


def _signer_role() -> str:
    """The signer of notice-board documents: a "noticeboard" signer when the deployment has one,
    else the civil registrar's or registrar's, else the default one."""
    from documents import conf

    configured = conf.signer_config()
    return next((r for r in ("noticeboard", Role.CIVIL_REGISTRAR, Role.REGISTRAR) if r in configured), "default")


def require_publisher(*, user: User, tenant: Tenant) -> None:
    if not roles_for(user=user, tenant=tenant) & PUBLISHER_ROLES:
        raise PermissionRefused(_("Il tuo ruolo non consente di gestire l'albo pretorio."))


def publication_end_date(*, start: dt.date, days: int) -> dt.date:
    """The last day of a publication lasting `days` consecutive calendar days from `start` included
    (art. 55 D.P.R. 396/2000 for banns: eight consecutive days, holidays included)."""
    return start + dt.timedelta(days=days - 1)


def archive_days(tenant: Tenant) -> int:
    own = NoticeboardSettings.objects.filter(tenant=tenant).values_list("archive_days", flat=True).first()
    return int(own if own is not None else settings.PROCEDO_NOTICEBOARD_ARCHIVE_DAYS)


def noticeboard_settings_update(*, tenant: Tenant, actor: User, archive_days: int | None,
                                ip: str | None = None) -> None:
    if not roles_for(user=actor, tenant=tenant) & {Role.SUPERVISOR}:
        raise PermissionRefused(_("Solo il responsabile può cambiare le impostazioni dell'albo."))
    if archive_days is not None and not 0 <= archive_days <= 3650:
        raise ValidationFailed(_("Il periodo di archivio va da 0 a 3650 giorni."),
                               details={"archive_days": [_("Indica un numero di giorni da 0 a 3650.")]})
    with transaction.atomic():
        row, _created = NoticeboardSettings.objects.select_for_update().get_or_create(tenant=tenant)
        before = row.archive_days
        row.archive_days = archive_days
        row.save(update_fields=["archive_days"])
        audit_record(tenant=tenant, actor=actor, action="update", object_type="noticeboard_settings",
                     object_id=str(tenant.pk), object_repr=tenant.name, ip=ip,
                     summary="Cambiato il periodo di archivio dell'albo",
                     before={"archive_days": before}, after={"archive_days": archive_days})


def _next_number(tenant: Tenant, year: int) -> int:
    """The next register number of (tenant, year), inside the caller's transaction.

    The UPDATE locks the counter row until commit, so two publications never get the same number,
    and a publication that rolls back gives its number back: the register has no gaps.
    """
    with connection.cursor() as cursor:
        for _attempt in range(2):
            cursor.execute(
                f"UPDATE {PublicationCounter._meta.db_table} SET last_number = last_number + 1 "
                "WHERE tenant_id = %s AND year = %s RETURNING last_number", [tenant.pk, year])
            row = cursor.fetchone()
            if row is not None:
                return int(row[0])
            try:
                with transaction.atomic():
                    PublicationCounter.objects.create(tenant=tenant, year=year, last_number=0)
            except IntegrityError:
                pass  # another transaction created this year's counter first
    raise RuntimeError(f"noticeboard counter {tenant.pk}/{year} could not be created")


def _clean(value: Any, *, limit: int) -> str:
    return str(value or "").strip()[:limit]


def _text_errors(*, title: str, body: str, category: str, days: int, start_date: dt.date, office: str,
                 responsible: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not title:
        errors["title"] = [_("Indica l'oggetto della pubblicazione.")]
    if category not in Category.values:
        errors["category"] = [_("Scegli una categoria dall'elenco.")]
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors["days"] = [_("La durata va da 1 a %(max)s giorni.") % {"max": MAX_DAYS}]
    if start_date < clock.today():
        errors["start_date"] = [_("La pubblicazione non può iniziare in una data passata.")]
    if not office:
        errors["office"] = [_("Indica l'ufficio che pubblica l'atto.")]
    if not responsible:
        errors["responsible"] = [_("Indica il responsabile della pubblicazione.")]
    for name, text in (("title", title), ("body", body), ("office", office), ("responsible", responsible)):
        if contains_fiscal_code(text):
            errors.setdefault(name, []).append(_(
                "Il testo contiene un codice fiscale: sull'albo pubblico non si pubblicano codici fiscali "
                "(linee guida del Garante per la protezione dei dati personali). Toglilo e riprova."))
    return errors


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(first if len(errors) == 1 else _("Controlla i campi evidenziati."), details=errors)


def publication_check(*, tenant: Tenant, title: str, body: str, category: str, days: int, start_date: dt.date,
                      office: str, responsible: str) -> None:
    """Check what will be published before anything is signed or stored (ValidationFailed per field)."""
    _raise(_text_errors(title=_clean(title, limit=TITLE_MAX), body=_clean(body, limit=BODY_MAX), category=category,
                        days=days, start_date=start_date, office=_clean(office, limit=200),
                        responsible=_clean(responsible, limit=200)))


def _validate(*, title: str, body: str, category: str, days: int, start_date: dt.date, office: str,
              responsible: str, document, tenant: Tenant) -> None:
    errors = _text_errors(title=title, body=body, category=category, days=days, start_date=start_date,
                          office=office, responsible=responsible)
    if document is None or document.tenant_id != tenant.pk:
        errors["document"] = [_("Documento non trovato.")]
    elif document.mime != "application/pdf" or not document.signed:
        errors["document"] = [_("L'atto da pubblicare deve essere un PDF firmato digitalmente.")]
    elif document.revoked_at is not None:
        errors["document"] = [_("Il documento è stato annullato e non può essere pubblicato.")]
    _raise(errors)


def publication_create(*, tenant: Tenant, actor: User | None, title: str, body: str = "", category: str,
                       document, days: int, start_date: dt.date | None = None, office: str, responsible: str,
                       case=None, idempotency_key: str | None = None, ip: str | None = None) -> Publication:
    """Register a publication and put it on the notice board from `start_date` (default today) for
    `days` consecutive days. `actor` None means the engine posts it for `case`.

    Refuses (ValidationFailed, Italian message per field) a text containing a fiscal code, a document
    that is not a signed PDF of this tenant, a start in the past. Idempotent on `idempotency_key`.
    """
    if actor is not None:
        require_publisher(user=actor, tenant=tenant)
    if idempotency_key:
        existing = Publication.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    title, body = _clean(title, limit=TITLE_MAX), _clean(body, limit=BODY_MAX)
    office, responsible = _clean(office, limit=200), _clean(responsible, limit=200)
    start_date = start_date or clock.today()
    _validate(title=title, body=body, category=category, days=days, start_date=start_date, office=office,
              responsible=responsible, document=document, tenant=tenant)
    if case is not None and case.tenant_id != tenant.pk:
        raise NotFound(_("Pratica non trovata."))
    now = clock.now()
    try:
        with transaction.atomic():
            year = clock.today().year  # the register year is the year the act is registered
            publication = Publication.objects.create(
                tenant=tenant, year=year, number=_next_number(tenant, year), title=title, body=body,
                category=category, document=document, start_date=start_date,
                end_date=publication_end_date(start=start_date, days=days), days=days, office=office,
                responsible=responsible, case=case, idempotency_key=idempotency_key or None,
                created_by=actor if actor is not None and actor.is_authenticated else None, created_at=now)
            audit_record(tenant=tenant, actor=actor, action="create", object_type="publication",
                         object_id=str(publication.pk), object_repr=f"{publication.register_number} {title}",
                         summary=f"Pubblicato all'albo n. {publication.register_number}", ip=ip,
                         after={"number": publication.register_number, "category": category,
                                "start_date": start_date, "end_date": publication.end_date,
                                "document_sha256": document.sha256, "case": getattr(case, "pk", None)})
    except IntegrityError:
        # the same idempotency key won a race: hand back the winner
        existing = Publication.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first() \
            if idempotency_key else None
        if existing is None:
            raise
        return existing
    logger.info("publication %s registered for tenant %s", publication.register_number, tenant.pk)
    return publication


def publication_document_upload(*, tenant: Tenant, actor: User, data: bytes, filename: str,
                                ip: str | None = None):
    """A PDF uploaded by the office for publication: checked by content, signed with the
    municipality's seal (PAdES) so that the public copy carries its origin, stored, audited."""
    from documents import conf, filecheck, signing, storage
    from documents.errors import FileRejected, SigningFailed
    from documents.models import Document
    from documents.services import signer_for_role

    require_publisher(user=actor, tenant=tenant)
    mime, _ext = filecheck.check_upload(data)
    if mime != "application/pdf":
        raise FileRejected(_("Sull'albo si pubblicano solo documenti PDF."), code="unsupported_type")
    signer, signer_name = signer_for_role(_signer_role())
    tsa = conf.tsa_url()
    try:
        signed = signing.sign_pdf(data, signer=signer, level=signing.Level.B_T if tsa else signing.Level.B_B,
                                  tsa_url=tsa or None)
    except SigningFailed:
        raise
    except Exception as exc:  # a PDF pyHanko cannot open or update
        logger.info("noticeboard upload not signable: %s", type(exc).__name__)
        raise FileRejected(_("Il PDF non è leggibile o è protetto: caricane una copia non cifrata."),
                           code="pdf_corrupt") from exc
    sha = storage.put(signed)
    safe_name = Path(filename or "atto.pdf").name[:200] or "atto.pdf"
    with transaction.atomic():
        doc = Document.objects.create(
            tenant=tenant, kind="atto_albo", title=safe_name, sha256=sha, filename=safe_name, mime=mime,
            size=len(signed), signed=True, signature_level=(signing.Level.B_T if tsa else signing.Level.B_B).value,
            signer=signer_name, created_at=clock.now())
        audit_record(tenant=tenant, actor=actor, action="sign", object_type="document", object_id=str(doc.pk),
                     object_repr=safe_name, summary=f"Caricato e firmato {safe_name} per l'albo", ip=ip,
                     after={"sha256": sha, "size": len(signed)})
    return doc


def publication_withdraw(*, publication: Publication, actor: User | None, reason: str,
                         ip: str | None = None) -> Publication:
    """Withdraw (annullare) a publication: the record stays, the public page shows it as annullata
    with the reason, its document is no longer offered."""
    tenant = publication.tenant
    if actor is not None:
        require_publisher(user=actor, tenant=tenant)
    reason = _clean(reason, limit=500)
    if not reason:
        raise ValidationFailed(_("Indica il motivo dell'annullamento."),
                               details={"reason": [_("Il motivo è obbligatorio.")]})
    if contains_fiscal_code(reason):
        raise ValidationFailed(_("Il motivo contiene un codice fiscale: sull'albo pubblico non si pubblicano "
                                 "codici fiscali."), details={"reason": [_("Togli il codice fiscale.")]})
    now = clock.now()
    with transaction.atomic():
        changed = Publication.objects.filter(pk=publication.pk, tenant=tenant, withdrawn_at__isnull=True).update(
            withdrawn_at=now, withdrawal_reason=reason,
            withdrawn_by=actor if actor is not None and actor.is_authenticated else None)
        if not changed:
            raise Conflict(_("La pubblicazione è già stata annullata."), code="already_withdrawn")
        audit_record(tenant=tenant, actor=actor, action="update", object_type="publication",
                     object_id=str(publication.pk), object_repr=publication.register_number, ip=ip,
                     summary=f"Annullata la pubblicazione n. {publication.register_number}",
                     before={"withdrawn": False}, after={"withdrawn": True, "reason": reason})
    publication.refresh_from_db()
    return publication


def _report_data(publication: Publication) -> dict[str, Any]:
    fmt = "%d/%m/%Y"
    data = {
        "ente": {"nome": publication.tenant.name, "indirizzo": ""},
        "pubblicazione": {
            "numero": publication.register_number, "oggetto": publication.title,
            "categoria": str(Category(publication.category).label), "inizio": publication.start_date.strftime(fmt),
            "fine": publication.end_date.strftime(fmt), "giorni": publication.days, "ufficio": publication.office,
            "responsabile": publication.responsible, "impronta": publication.document.sha256,
        },
    }
    if publication.withdrawn_at is not None:
        withdrawn_on = timezone.localtime(publication.withdrawn_at).date()
        if withdrawn_on < publication.start_date:
            period = "L'atto non è mai stato visibile al pubblico: l'annullamento è precedente all'inizio."
        else:
            period = (f"L'atto è stato consultabile dal {publication.start_date.strftime(fmt)} al "
                      f"{min(withdrawn_on, publication.end_date).strftime(fmt)}; dall'annullamento l'albo ne "
                      "mostra solo gli estremi con la dicitura «annullata» e il motivo.")
        data["pubblicazione"].update(periodo_effettivo=period, annullata_il=withdrawn_on.strftime(fmt),
                                     motivo=publication.withdrawal_reason)
    return data


def publication_close(*, publication: Publication) -> Publication:
    """At the end of a publication, issue its report (referto di pubblicazione): a PDF/A, signed,
    attached to the publication and to the case that asked for it. Runs again harmlessly: the
    report has an idempotency key and is attached only once."""
    from documents.services import document_issue

    from .report import referto_docx, referto_withdrawn_docx

    if publication.report_document_id is not None:
        return publication
    withdrawn = publication.withdrawn_at is not None
    if not withdrawn and publication.end_date >= clock.today():
        raise Conflict(_("La pubblicazione non è conclusa."), code="not_ended")
    doc = document_issue(  # slow (LibreOffice, signature): outside any transaction
        tenant=publication.tenant, case=publication.case,
        template=referto_withdrawn_docx() if withdrawn else referto_docx(), data=_report_data(publication),
        kind="referto_pubblicazione", title=f"Referto di pubblicazione n. {publication.register_number}",
        signer_role=_signer_role(), signer_role_label="Responsabile dell'albo pretorio",
        idempotency_key=f"noticeboard-report-{publication.pk}")
    with transaction.atomic():
        attached = Publication.objects.filter(pk=publication.pk, report_document__isnull=True).update(
            report_document=doc)
        if attached:
            audit_record(tenant=publication.tenant, actor=None, action="sign", object_type="publication",
                         object_id=str(publication.pk), object_repr=publication.register_number,
                         summary=f"Referto di pubblicazione n. {publication.register_number} firmato",
                         after={"report_document": doc.pk, "sha256": doc.sha256})
    publication.refresh_from_db()
    return publication


def publications_close_ended(*, limit: int = 100) -> dict[str, int]:
    """Issue the report of every publication that has ended or was withdrawn and has none yet (the periodic job)."""
    # Ended, or withdrawn (its time on the board ended with the withdrawal): the report says which.
    due = list(Publication.objects.filter(Q(end_date__lt=clock.today()) | Q(withdrawn_at__isnull=False),
                                          report_document__isnull=True)
               .select_related("tenant", "document", "case").order_by("end_date", "pk")[:limit])
    outcome = {"closed": 0, "failed": 0}
    for publication in due:
        try:
            publication_close(publication=publication)
        except Exception:  # one failing report must not hold the others back; retried next run
            logger.exception("noticeboard: report of publication %s failed", publication.pk)
            outcome["failed"] += 1
        else:
            outcome["closed"] += 1
    return outcome
