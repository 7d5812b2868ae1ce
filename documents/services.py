"""Writes: issue a signed document for a case, file an uploaded scan in a dossier.

The slow part (render, convert, sign) runs before the transaction; the blob is
stored under its hash, then the rows are written in one short transaction. A
failure anywhere leaves no Document row; a stored blob without a row is harmless
(content-addressed, reused by the next identical document).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from accounts.roles import STAFF_ROLES, Role
from accounts.selectors import roles_for
from audit.services import audit_record
from common import clock
from common.errors import NotFound, PermissionRefused

from . import conf, filecheck, pipeline, samples, signing, storage, templates
from .errors import ConfigurationError, FileRejected
from .models import Document, DocumentType, DossierEntry, Origin, TenantTemplate

logger = logging.getLogger(__name__)

# Templates that belong to no procedure (the benchmark's certificate): built from code.
BUILTIN_TEMPLATES = {
    "certificato": samples.certificato_docx,
}


def template_load(*, name: str, process_id: str | None = None, tenant: Tenant | None = None,
                  version=None) -> bytes:
    """The municipality's active version of the template when it uploaded one; else the deed of
    the case's published process version (a running case keeps the wording it started with);
    else the procedure folder on disk (`processes/<id>/deeds/`); else a built-in sample."""
    if "/" in name or "\\" in name or name.startswith("."):
        raise NotFound(_("Modello %(name)s non trovato.") % {"name": name})
    if tenant is not None:
        own = TenantTemplate.objects.filter(tenant=tenant, name=name, is_active=True).first()
        if own is not None:
            return storage.get(own.sha256)
    if version is not None:
        stored = templates.version_template(version, name)
        if stored is not None:
            return stored
    shipped = templates.shipped_template(name, process_id)
    if shipped is not None:
        return shipped
    builder = BUILTIN_TEMPLATES.get(name)
    if builder is None:
        raise NotFound(_("Modello %(name)s non trovato.") % {"name": name}, code="template_not_found")
    return builder()


def signer_for_role(role: str) -> tuple[Any, str]:
    """(pyHanko signer, display name) for a signer role, from PROCEDO_DOCUMENTS_SIGNERS."""
    config = conf.signer_config()
    entry = config.get(role) or config.get("default")
    if entry is None:
        raise ConfigurationError(_("Nessun firmatario configurato per il ruolo %(role)s.") % {"role": role})
    if entry.get("kind", "pkcs12") != "pkcs12":
        raise ConfigurationError(_("Tipo di firmatario non supportato qui: %(kind)s.") % {"kind": entry.get("kind")})
    signer = signing.pkcs12_signer(entry["path"], entry.get("passphrase", ""))
    name = signer.signing_cert.subject.native.get("common_name", "")
    return signer, name


def document_issue(*, tenant: Tenant, case=None, template: bytes, data: Mapping[str, Any], kind: str, title: str = "",
                   signer_role: str, signer_role_label: str = "", idempotency_key: str | None = None,
                   subjects: list[str] | None = None, actor: User | None = None) -> Document:
    if idempotency_key:
        existing = Document.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    signer, signer_name = signer_for_role(signer_role)
    tsa = conf.tsa_url()
    coat_of_arms = Tenant.objects.filter(pk=tenant.pk).values_list("coat_of_arms", flat=True).first()
    produced = pipeline.produce(
        template, data, signer=signer, signer_name=signer_name, signer_role=signer_role_label or signer_role,
        level=signing.Level.B_T if tsa else signing.Level.B_B, tsa_url=tsa or None,
        coat_of_arms=bytes(coat_of_arms) if coat_of_arms else None,
    )
    sha = storage.put(produced.pdf)
    now = clock.now()
    try:
        with transaction.atomic():
            doc = Document.objects.create(
                tenant=tenant, kind=kind, title=title, sha256=sha, filename=f"{kind}-{produced.verification_code[:8]}.pdf",
                mime="application/pdf", size=len(produced.pdf), signed=True, signature_level=produced.level.value,
                signer=signer_name, verification_code=produced.verification_code, case=case,
                idempotency_key=idempotency_key, created_at=now,
            )
            for fiscal_code in sorted({s.strip().upper() for s in (subjects or []) if s}):
                DossierEntry.objects.create(tenant=tenant, fiscal_code=fiscal_code, document=doc, document_type=kind,
                                            date=now.date(), origin=Origin.OFFICE, case=case, created_at=now)
            audit_record(tenant=tenant, actor=actor, action="sign", object_type="document", object_id=str(doc.pk),
                         object_repr=doc.filename, summary=f"Emesso e firmato {kind} ({produced.level.value})",
                         after={"sha256": sha, "case": getattr(case, "pk", None)})
    except IntegrityError:
        # the same idempotency key won a race: return the winner
        existing = Document.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing
    logger.info("document %s issued for tenant %s (%s)", doc.pk, tenant.pk, kind)
    return doc


def dossier_upload(*, tenant: Tenant, user: User, fiscal_code: str, data: bytes, filename: str, document_type: str,
                   date: dt.date, protocol_number: str = "", protocol_date: dt.date | None = None,
                   origin: str = Origin.OFFICE, case=None, ip: str | None = None) -> DossierEntry:
    roles = roles_for(user=user, tenant=tenant)
    writers = STAFF_ROLES - {Role.VIEWER, Role.SUPPORT}
    if not roles & writers:
        raise PermissionRefused(_("Il tuo ruolo non consente di caricare documenti nel fascicolo."))
    if origin not in Origin.values:
        from common.errors import ValidationFailed

        raise ValidationFailed(_("Provenienza non valida."), details={"origin": [origin]})
    if not DocumentType.objects.filter(tenant=tenant, code=document_type, is_active=True).exists():
        from common.errors import ValidationFailed

        raise ValidationFailed(_("Tipo di documento non previsto dall'ente: %(t)s.") % {"t": document_type[:50]},
                               details={"document_type": [_("Scegli un tipo di documento dall'elenco.")]})
    mime, ext = filecheck.check_upload(data)
    sha = storage.put(data)
    now = clock.now()
    safe_name = Path(filename or f"documento.{ext}").name[:200]
    with transaction.atomic():
        doc = Document.objects.create(tenant=tenant, kind=document_type, title=safe_name, sha256=sha, filename=safe_name,
                                      mime=mime, size=len(data), signed=False, case=case, created_at=now)
        entry = DossierEntry.objects.create(
            tenant=tenant, fiscal_code=fiscal_code.strip().upper(), document=doc, document_type=document_type, date=date,
            protocol_number=protocol_number, protocol_date=protocol_date, origin=origin, case=case, created_at=now)
        audit_record(tenant=tenant, actor=user, action="create", object_type="dossier_entry", object_id=str(entry.pk),
                     object_repr=fiscal_code, summary=f"Caricato {safe_name} nel fascicolo", ip=ip,
                     after={"sha256": sha, "mime": mime, "size": len(data)})
    return entry


def document_revoke(*, document: Document, user: User | None, reason: str, superseded_by: Document | None = None) -> None:
    with transaction.atomic():
        Document.objects.filter(pk=document.pk, revoked_at__isnull=True).update(
            revoked_at=clock.now(), revoked_reason=reason[:300], superseded_by=superseded_by)
        audit_record(tenant=document.tenant, actor=user, action="update", object_type="document",
                     object_id=str(document.pk), object_repr=document.filename, summary=f"Annullato: {reason}")


def attachment_store(*, tenant: Tenant, user: User, case, data: bytes, filename: str, kind: str = "allegato",
                     accept: list[str] | None = None, max_bytes: int | None = None,
                     ip: str | None = None) -> Document:
    """A file attached to a task form: type checked by content (PDF, JPEG, PNG, TIFF; `accept` narrows
    it to some extensions), size limited, stored content-addressed, linked to the case, audited."""
    if max_bytes is not None and len(data) > max_bytes:
        raise FileRejected(_("Il file supera la dimensione massima consentita (%(mb)s MB).")
                           % {"mb": max(1, max_bytes // (1024 * 1024))}, code="too_large")
    mime, ext = filecheck.check_upload(data)
    if accept and ext not in accept and not (ext == "jpg" and "jpeg" in accept):
        raise FileRejected(_("Tipo di file non ammesso qui: sono accettati %(types)s.")
                           % {"types": ", ".join(t.upper() for t in accept)}, code="unsupported_type")
    sha = storage.put(data)
    safe_name = Path(filename or f"allegato.{ext}").name[:200] or f"allegato.{ext}"
    with transaction.atomic():
        doc = Document.objects.create(tenant=tenant, kind=kind, title=safe_name, sha256=sha, filename=safe_name,
                                      mime=mime, size=len(data), signed=False, case=case, created_at=clock.now())
        audit_record(tenant=tenant, actor=user, action="create", object_type="document", object_id=str(doc.pk),
                     object_repr=safe_name, summary=f"Allegato {safe_name} alla pratica", ip=ip,
                     after={"sha256": sha, "mime": mime, "size": len(data), "case": getattr(case, "pk", None)})
    return doc


class _ShippedMapping(Mapping[str, Any]):
    """name -> one attribute of every shipped template: the procedures' deeds as declared in their
    folders (read when asked, so a changed folder is seen), then the built-in ones."""

    def __init__(self, attribute: str, builtin: Mapping[str, Any]) -> None:
        self._attribute, self._builtin = attribute, builtin

    def _current(self) -> dict[str, Any]:
        shipped = {name: getattr(t, self._attribute) for name, t in templates.shipped_templates().items()}
        return {**shipped, **{k: v for k, v in self._builtin.items() if k not in shipped}}

    def __getitem__(self, name: str) -> Any:
        return self._current()[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


# The data each shipped template may use: an uploaded version of it may use the same, no more.
TEMPLATE_FIELDS: Mapping[str, Any] = _ShippedMapping("fields", {"certificato": samples.CERTIFICATO_SCHEMA})
TEMPLATE_TITLES: Mapping[str, Any] = _ShippedMapping(
    "title", {"certificato": "Certificato di stato di famiglia e di residenza"})


def _require_template_admin(user: User, tenant: Tenant) -> None:
    if not roles_for(user=user, tenant=tenant) & {Role.SUPERVISOR, Role.PROCESS_ADMIN}:
        raise PermissionRefused(_("Solo un responsabile o un amministratore può cambiare i modelli dell'ente."))


def tenant_template_upload(*, tenant: Tenant, user: User, name: str, data: bytes, filename: str,
                           ip: str | None = None) -> TenantTemplate:
    """Validate a DOCX against the data of the shipped template of that name (syntax errors and
    unknown placeholders are refused naming the fragment) and make it the active version."""
    _require_template_admin(user, tenant)
    fields = TEMPLATE_FIELDS.get(name)
    if fields is None:
        raise NotFound(_("Modello %(name)s non trovato.") % {"name": name}, code="template_not_found")
    templates.validate_template(data, schema=fields)  # raises TemplateRejected
    sha = storage.put(data)
    with transaction.atomic():
        current = TenantTemplate.objects.select_for_update().filter(tenant=tenant, name=name)
        version = (current.order_by("-version").values_list("version", flat=True).first() or 0) + 1
        current.filter(is_active=True).update(is_active=False)
        row = TenantTemplate.objects.create(tenant=tenant, name=name, version=version, sha256=sha,
                                            filename=Path(filename or f"{name}.docx").name[:255], is_active=True,
                                            uploaded_by=user, uploaded_at=clock.now())
        audit_record(tenant=tenant, actor=user, action="create", object_type="template", object_id=str(row.pk),
                     object_repr=f"{name} v{version}", summary=f"Caricata la versione {version} del modello {name}",
                     ip=ip, after={"sha256": sha})
    return row


def tenant_template_activate(*, tenant: Tenant, user: User, name: str, version: int | None,
                             ip: str | None = None) -> None:
    """Make an earlier version active again, or (version None) go back to the shipped template."""
    _require_template_admin(user, tenant)
    with transaction.atomic():
        rows = TenantTemplate.objects.select_for_update().filter(tenant=tenant, name=name)
        target = None
        if version is not None:
            target = rows.filter(version=version).first()
            if target is None:
                raise NotFound(_("Versione del modello non trovata."))
        rows.filter(is_active=True).update(is_active=False)
        if target is not None:
            TenantTemplate.objects.filter(pk=target.pk).update(is_active=True)
        audit_record(tenant=tenant, actor=user, action="update", object_type="template", object_id=name,
                     object_repr=name, ip=ip,
                     summary=(f"Riattivata la versione {version} del modello {name}" if version is not None
                              else f"Ripristinato il modello originale {name}"))


# The document types every municipality starts with (editable afterwards in the admin).
DEFAULT_DOCUMENT_TYPES = [
    ("scansione", "Scansione"),
    ("documento_identita", "Documento d'identità"),
    ("permesso_soggiorno", "Permesso di soggiorno"),
    ("titolo_occupazione", "Titolo di occupazione dell'abitazione"),
    ("dichiarazione_sostitutiva", "Dichiarazione sostitutiva"),
    ("atto_stato_civile", "Atto di stato civile"),
    ("comunicazione", "Comunicazione ricevuta"),
]


def document_types_seed(tenant: Tenant, model=None) -> None:
    model = model or DocumentType
    existing = set(model.objects.filter(tenant_id=tenant.pk).values_list("code", flat=True))
    model.objects.bulk_create([model(tenant_id=tenant.pk, code=code, name=name)
                               for code, name in DEFAULT_DOCUMENT_TYPES if code not in existing])
