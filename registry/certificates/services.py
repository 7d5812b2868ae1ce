"""Issuing registry certificates at the counter.

`certificate_issue` checks who asks, the use (stamp-duty exemption, ANPR table Esenzione bollo)
and the stamps, applies the certificate's data rules (catalogue), then per copy fills the
certificate's converted layout (fastpdf: no LibreOffice conversion per certificate), seals it
with the municipality's seal (PAdES), stores it, files it in the person's dossier and audits it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Tenant, User
from accounts.roles import Role
from accounts.selectors import roles_for
from audit.services import audit_record
from common import clock
from common.errors import NotFound, PermissionRefused, ValidationFailed
from documents import conf as documents_conf
from documents import pipeline, render, signing, storage, templates
from documents.models import Document, DossierEntry, Origin
from documents.services import signer_for_role

from .. import codes
from . import fastpdf, layout, selectors
from .catalogue import CATALOGUE, CertificateRefused, Kind
from .models import Certificate, CertificateBase, StampMode

logger = logging.getLogger(__name__)

# who may open the counter at all; each certificate kind narrows it (Kind.issuers: the
# population-register certificates are the registrars' and supervisors', the civil-status ones
# also the civil registrars')
ISSUER_ROLES = frozenset({Role.REGISTRAR, Role.CIVIL_REGISTRAR, Role.SUPERVISOR})
SIGNER_ROLE = "sigillo_ente"  # PROCEDO_DOCUMENTS_SIGNERS entry; falls back to "default"
MAX_COPIES = 10
OTHER_EXEMPTION = 99  # "ALTRO MOTIVO DI ESENZIONE": the operator writes the reason
PHYSICAL_STAMP = re.compile(r"^\d{14}$")  # the contrassegno's identification number
VIRTUAL_STAMP = re.compile(r"^[A-Za-z0-9 ./\-]{3,60}$")


STAMP_DUTY_CENTS = 1600  # imposta di bollo on a certificate: 16,00 euro per copy (DPR 642/1972, tariffa art. 4)


def _stamp_paid_by_pagopa(*, tenant: Tenant, copies: int, position_id: int | None, request_id: uuid.UUID | None) -> str:
    """The stamp duty paid through pagoPA (the citizen area): the tenant's debt position, paid, for at
    least 16 euro per copy, not already used for another request. Returns the notice number printed."""
    from connectors.pagopa.models import DebtPosition

    position = DebtPosition.objects.filter(tenant=tenant, pk=position_id).first() if position_id else None
    if position is not None and request_id is not None and position.idempotency_key not in (
            f"portal-certificate:{request_id}", f"counter-certificate:{request_id}"):
        # only the position created for this very request pays it (not a case's fee of the same amount)
        raise ValidationFailed(_("Questo pagamento non è stato chiesto per questo certificato."), code="stamp_used",
                               details={"stamp_mode": [_("Pagamento di un'altra richiesta.")]})
    if position is None or position.paid_at is None:
        raise ValidationFailed(_("L'imposta di bollo non risulta ancora pagata con pagoPA."), code="stamp_not_paid",
                               details={"stamp_mode": [_("Pagamento non ricevuto.")]})
    if position.amount_cents < STAMP_DUTY_CENTS * copies:
        raise ValidationFailed(_("L'importo pagato non copre l'imposta di bollo."), code="stamp_not_paid",
                               details={"stamp_mode": [_("Importo insufficiente.")]})
    reused = Certificate.objects.for_tenant(tenant).filter(stamp_mode=StampMode.PAGOPA, stamp_id=position.notice_number)
    if request_id is not None:
        reused = reused.exclude(request_id=request_id)
    if reused.exists():
        raise ValidationFailed(_("Questo pagamento è già stato usato per un altro certificato."), code="stamp_used",
                               details={"stamp_mode": [_("Pagamento già usato.")]})
    return position.notice_number


@dataclass(frozen=True)
class Use:
    code: int | None  # exemption code; None: stamp duty paid
    note: str
    mode: str
    stamp_ids: list[str]  # one per copy
    statutory: str = ""  # exempt by law whatever the use (civil-status certificates): what is printed

    def printed(self, copy_index: int) -> str:
        if self.statutory:
            return _("Esente dall'imposta di bollo: %(reason)s.") % {"reason": self.statutory}
        if self.mode == StampMode.EXEMPT:
            text = codes.label("stamp_duty_exemption", self.code)
            if self.code == OTHER_EXEMPTION:
                text = f"{text}: {self.note}"
            return _("Rilasciato in esenzione dall'imposta di bollo: %(reason)s.") % {"reason": text}
        if self.mode == StampMode.PAGOPA:
            return _("Imposta di bollo assolta tramite pagoPA, avviso n. %(id)s.") % {"id": self.stamp_ids[copy_index]}
        if self.mode == StampMode.PHYSICAL:
            return _("Imposta di bollo assolta mediante contrassegno telematico n. %(id)s.") % {
                "id": self.stamp_ids[copy_index]}
        return _("Imposta di bollo assolta in modo virtuale, autorizzazione %(id)s.") % {"id": self.stamp_ids[copy_index]}


def kinds() -> list[Kind]:
    return list(CATALOGUE.values())


def exemption_choices() -> list[tuple[int, str]]:
    return codes.choices("stamp_duty_exemption")


def check_use(*, tenant: Tenant, copies: int, use_code: int | None, use_note: str, stamp_mode: str,
              stamp_ids: list[str], paid_position_id: int | None = None, request_id: uuid.UUID | None = None) -> Use:
    """The use and the stamps, or ValidationFailed with the field at fault."""
    if not 1 <= copies <= MAX_COPIES:
        raise ValidationFailed(_("Il numero di copie deve essere tra 1 e %(max)s.") % {"max": MAX_COPIES},
                               details={"copies": [_("Numero di copie non valido.")]})
    note = " ".join((use_note or "").split())[:200]
    if use_code is not None:
        if not codes.is_valid("stamp_duty_exemption", use_code):
            raise ValidationFailed(_("Uso non previsto dalla tabella delle esenzioni."), details={"use": [str(use_code)]})
        if use_code == OTHER_EXEMPTION and len(note) < 5:
            raise ValidationFailed(_("Per «altro motivo di esenzione» indica il motivo e la norma."),
                                   details={"use_note": [_("Motivo obbligatorio.")]})
        return Use(use_code, note if use_code == OTHER_EXEMPTION else "", StampMode.EXEMPT, [""] * copies)
    ids = [" ".join(s.split()) for s in stamp_ids if s and s.strip()]
    if stamp_mode == StampMode.PAGOPA:
        notice = _stamp_paid_by_pagopa(tenant=tenant, copies=copies, position_id=paid_position_id,
                                       request_id=request_id)
        return Use(None, "", StampMode.PAGOPA, [notice] * copies)
    if stamp_mode == StampMode.PHYSICAL:
        if len(ids) != copies or any(not PHYSICAL_STAMP.match(s) for s in ids):
            raise ValidationFailed(_("Indica il numero di 14 cifre del contrassegno di ogni copia (uno per copia)."),
                                   details={"stamp_ids": [_("Un contrassegno di 14 cifre per ogni copia.")]})
        if len(set(ids)) != len(ids):
            raise ValidationFailed(_("Lo stesso contrassegno non può valere per due copie."),
                                   details={"stamp_ids": [_("Contrassegni ripetuti.")]})
        used = selectors.stamp_already_used(tenant=tenant, stamp_ids=ids)
        if used:
            raise ValidationFailed(_("Contrassegno già usato per un altro certificato: %(ids)s.") % {"ids": ", ".join(used)},
                                   details={"stamp_ids": used})
        return Use(None, "", StampMode.PHYSICAL, ids)
    if stamp_mode == StampMode.VIRTUAL:
        if len(ids) != 1 or not VIRTUAL_STAMP.match(ids[0]):
            raise ValidationFailed(_("Indica gli estremi dell'autorizzazione al pagamento del bollo in modo virtuale."),
                                   details={"stamp_ids": [_("Autorizzazione mancante o non valida.")]})
        return Use(None, "", StampMode.VIRTUAL, ids * copies)
    raise ValidationFailed(_("Scegli un uso esente oppure come è stata assolta l'imposta di bollo."),
                           details={"stamp_mode": [_("Scelta obbligatoria.")]})


def check_statutory_use(*, copies: int, stamp_mode: str, stamp_ids: list[str], exemption: str) -> Use:
    """A certificate exempt by law: no stamp may be applied (nobody pays a duty that is not due),
    whatever exemption use was chosen; recorded as "other reason" with the law as its note."""
    if not 1 <= copies <= MAX_COPIES:
        raise ValidationFailed(_("Il numero di copie deve essere tra 1 e %(max)s.") % {"max": MAX_COPIES},
                               details={"copies": [_("Numero di copie non valido.")]})
    if stamp_mode in (StampMode.PHYSICAL, StampMode.VIRTUAL, StampMode.PAGOPA) or any(s and s.strip() for s in stamp_ids):
        raise ValidationFailed(_("Certificati ed estratti di stato civile sono esenti dall'imposta di bollo: non va "
                                 "applicato né pagato alcun bollo."), code="stamp_not_due",
                               details={"stamp_mode": [_("Bollo non dovuto.")]})
    return Use(OTHER_EXEMPTION, exemption[:200], StampMode.EXEMPT, [""] * copies, statutory=exemption)


# --- the converted layouts ------------------------------------------------------------------------

def _base_key(tenant_name: str, coat_of_arms: bytes, kind: Kind) -> str:
    h = hashlib.sha256()
    for part in (layout.LAYOUT_VERSION, layout.layout_sha256(*kind.layout_args), tenant_name,
                 hashlib.sha256(coat_of_arms).hexdigest()):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def base_for(tenant: Tenant, kind: Kind) -> bytes:
    """The certificate's layout for this tenant, converted once (process cache, then the database)."""
    if {"name", "coat_of_arms"} & tenant.get_deferred_fields():
        name, coat = Tenant.objects.filter(pk=tenant.pk).values_list("name", "coat_of_arms").get()
    else:  # the tenant as this request loaded it: one query less per certificate
        name, coat = tenant.name, tenant.coat_of_arms
    coat = bytes(coat or b"")
    key = _base_key(name, coat, kind)
    cache_key = f"{tenant.pk}:{kind.code}:{key}"
    base = fastpdf.cached_base(cache_key)
    if base is not None:
        return base
    row = CertificateBase.objects.filter(tenant=tenant, kind=kind.code, key=key).first()
    if row is not None:
        base = storage.get(row.sha256)
    else:
        images = {"stemma": (coat, 18)} if coat else None
        docx = templates.render_docx(layout.layout_docx(*kind.layout_args), context={"ente_nome": name, "stemma": ""},
                                     images=images)
        base = fastpdf.prepare_base(render.docx_to_pdfa(docx))
        sha = storage.put(base)
        try:
            with transaction.atomic():
                CertificateBase.objects.create(tenant=tenant, kind=kind.code, key=key, sha256=sha, created_at=clock.now())
        except IntegrityError:  # another process converted it at the same time: same content
            pass
        logger.info("certificate layout %s converted for tenant %s", kind.code, tenant.pk)
    fastpdf.remember_base(cache_key, base)
    return base


# --- issuing --------------------------------------------------------------------------------------

def certificate_issue(*, tenant: Tenant, user: User, person_id: int, kind: str, copies: int = 1,
                      use_code: int | None = None, use_note: str = "", stamp_mode: str = "",
                      stamp_ids: list[str] | None = None, request_id: uuid.UUID | None = None,
                      ip: str | None = None, act_id: int | None = None,
                      paid_position_id: int | None = None) -> list[Certificate]:
    """Issue `copies` copies of a certificate for a person of the register; each copy is its own
    sealed PDF with its own verification code (and stamp). Re-sending the same `request_id` returns
    the copies already issued. A civil-status certificate certifies `act_id` (from the act sheet)
    or, without it, the person's only closed act of its register."""
    roles = roles_for(user=user, tenant=tenant)
    if not roles & ISSUER_ROLES:
        raise PermissionRefused(_("Il tuo ruolo non consente di rilasciare certificati."))
    spec = CATALOGUE.get(kind)
    if spec is None:
        raise ValidationFailed(_("Certificato non previsto."), details={"kind": [str(kind)[:50]]})
    if not roles & spec.issuers:
        raise PermissionRefused(_("Il tuo ruolo non consente di rilasciare questo certificato."))
    request_id = request_id or uuid.uuid4()
    done = list(Certificate.objects.for_tenant(tenant).filter(request_id=request_id).order_by("copy_number"))
    if done:
        return done
    if spec.stamp_exemption:
        use = check_statutory_use(copies=copies, stamp_mode=stamp_mode, stamp_ids=stamp_ids or [],
                                  exemption=spec.stamp_exemption)
    else:
        use = check_use(tenant=tenant, copies=copies, use_code=use_code, use_note=use_note, stamp_mode=stamp_mode,
                        stamp_ids=stamp_ids or [], paid_position_id=paid_position_id, request_id=request_id)
    return _issue(tenant=tenant, user=user, spec=spec, person_id=person_id, copies=copies, use=use,
                  request_id=request_id, ip=ip, act_id=act_id)


# Certificates a citizen may ask online about another person: the population register is public
# (art. 33 D.P.R. 223/1989: anyone may have the current registry certificates of anyone, the use
# stated for the stamp duty); the historical ones need a motivated request examined by the office
# (art. 35) and civil-status certificates stay with the counter for others.
ONLINE_THIRD_PARTY_KINDS = frozenset({"residenza", "stato_famiglia", "cittadinanza", "esistenza_in_vita", "nascita"})


def certificate_issue_online(*, tenant: Tenant, user: User, person_id: int, kind: str, use_code: int | None = None,
                             use_note: str = "", paid_position_id: int | None = None,
                             request_id: uuid.UUID, ip: str | None = None) -> list[Certificate]:
    """A certificate a citizen asks in the personal area (one copy): about themselves (their register
    entry, linked by fiscal code), or another person for the kinds the law opens to anyone; exempt
    by the use declared, or with the stamp duty paid through pagoPA (`paid_position_id`)."""
    from registry.models import Person

    if Role.CITIZEN not in roles_for(user=user, tenant=tenant):
        raise PermissionRefused(_("Solo i cittadini chiedono certificati online."))
    spec = CATALOGUE.get(kind)
    if spec is None:
        raise ValidationFailed(_("Certificato non previsto."), details={"kind": [str(kind)[:50]]})
    person = Person.objects.for_tenant(tenant).filter(pk=person_id).first()
    if person is None:
        raise NotFound(_("Persona non trovata."))
    own = bool(user.fiscal_code) and person.fiscal_code.upper() == user.fiscal_code.upper()
    if not own and kind not in ONLINE_THIRD_PARTY_KINDS:
        raise PermissionRefused(_("Questo certificato si può chiedere online solo per sé stessi."),
                                code="certificate_not_for_others")
    done = list(Certificate.objects.for_tenant(tenant).filter(request_id=request_id).order_by("copy_number"))
    if done:
        return done
    if spec.stamp_exemption:
        use = check_statutory_use(copies=1, stamp_mode="", stamp_ids=[], exemption=spec.stamp_exemption)
    else:
        use = check_use(tenant=tenant, copies=1, use_code=use_code, use_note=use_note,
                        stamp_mode=StampMode.PAGOPA if use_code is None else "", stamp_ids=[],
                        paid_position_id=paid_position_id, request_id=request_id)
    return _issue(tenant=tenant, user=user, spec=spec, person_id=person_id, copies=1, use=use,
                  request_id=request_id, ip=ip, act_id=None)


def _data_and_body(tenant: Tenant, spec: Kind, person_id: int, act_id: int | None):
    if spec.is_civil_status:
        data = selectors.act_certificate_data(tenant=tenant, person_id=person_id, act_kind=spec.act_kind,
                                              principal_role=spec.principal_role, act_id=act_id)
    else:
        data = selectors.certificate_data(tenant=tenant, person_id=person_id)
    if data is None:
        raise NotFound(_("Persona o atto non trovati."))
    return data, spec.rules(data)  # CertificateRefused: the register cannot support it


def certificate_issuable(*, tenant: Tenant, person_id: int, kind: str) -> None:
    """Raise CertificateRefused (or NotFound) when the register cannot support this certificate, so
    that nobody is asked to pay the stamp duty of a certificate that would then be refused."""
    spec = CATALOGUE.get(kind)
    if spec is None:
        raise ValidationFailed(_("Certificato non previsto."), details={"kind": [str(kind)[:50]]})
    _data_and_body(tenant, spec, person_id, None)


def _issue(*, tenant: Tenant, user: User, spec: Kind, person_id: int, copies: int, use: Use,
           request_id: uuid.UUID, ip: str | None, act_id: int | None) -> list[Certificate]:
    data, body = _data_and_body(tenant, spec, person_id, act_id)
    base = base_for(tenant, spec)
    signer, signer_name = signer_for_role(SIGNER_ROLE)
    tsa = documents_conf.tsa_url()
    level = signing.Level.B_T if tsa else signing.Level.B_B
    now = clock.now()
    local = timezone.localtime(now)
    produced = []
    for i in range(copies):
        code = pipeline.new_verification_code()
        url = pipeline.verification_url(code)
        lines = [*body,
                 fastpdf.Line(_("Si rilascia su richiesta dell'interessato per gli usi consentiti dalla legge."),
                              space_before=14),
                 fastpdf.Line(use.printed(i), space_before=4)]
        seal = [
            _("%(title)s - copia %(n)s di %(of)s, rilasciato il %(date)s.") % {
                "title": spec.title, "n": i + 1, "of": copies, "date": local.strftime("%d/%m/%Y %H:%M")},
            _("Sigillo elettronico qualificato dell'ente: %(signer)s.") % {"signer": signer_name},
            _("Codice di verifica: %(code)s") % {"code": code},
            _("Verificabile su %(url)s") % {"url": url},
        ]
        try:
            pdf = fastpdf.fill_writer(base, fastpdf.overlay_ops(lines, seal, url))
        except fastpdf.OverlayError as exc:
            raise CertificateRefused(str(exc), code="too_long") from exc
        signed = signing.sign_pdf(pdf, signer=signer, level=level, tsa_url=tsa or None)
        produced.append((code, signed, storage.put(signed)))
    try:
        return _record(tenant=tenant, user=user, person_id=person_id, spec=spec, data=data, use=use, produced=produced, copies=copies,
                       request_id=request_id, level=level, signer_name=signer_name, now=now, ip=ip)
    except IntegrityError as exc:
        done = list(Certificate.objects.for_tenant(tenant).filter(request_id=request_id).order_by("copy_number"))
        if done:  # the same request, sent twice at once: the first one won
            return done
        raise ValidationFailed(_("Contrassegno già usato per un altro certificato."),
                               details={"stamp_ids": use.stamp_ids}) from exc


def _record(*, tenant, user, person_id, spec, data, use, produced, copies, request_id, level, signer_name, now, ip):
    act = getattr(data, "act", None)  # civil-status certificates: the act certified
    fiscal_code = (data.person.fiscal_code or "").strip().upper()
    issued = []
    with transaction.atomic():
        for i, (code, signed, sha) in enumerate(produced):
            doc = Document.objects.create(
                tenant=tenant, kind=spec.document_kind, title=spec.title, sha256=sha,
                filename=f"{spec.document_kind}-{code[:8]}.pdf", mime="application/pdf", size=len(signed), signed=True,
                signature_level=level.value, signer=signer_name, verification_code=code,
                idempotency_key=f"certificate:{request_id}:{i + 1}", created_at=now)
            if fiscal_code:
                DossierEntry.objects.create(tenant=tenant, fiscal_code=fiscal_code, document=doc,
                                            document_type=spec.document_kind, date=now.date(), origin=Origin.OFFICE,
                                            created_at=now)
            cert = Certificate.objects.create(
                tenant=tenant, request_id=request_id, person_id=person_id, kind=spec.code, copy_number=i + 1,
                copies=copies, use_code=use.code, use_note=use.note, stamp_mode=use.mode,
                stamp_id=use.stamp_ids[i] if use.mode != StampMode.EXEMPT else "", document=doc, issued_by=user,
                issued_at=now)
            audit_record(tenant=tenant, actor=user, action="sign", object_type="certificate", object_id=str(cert.pk),
                         object_repr=f"{spec.title} {data.person.family_name} {data.person.given_name}"[:200],
                         summary=f"Rilasciato {spec.title} (copia {i + 1} di {copies})", ip=ip,
                         after={"person": person_id, "kind": spec.code, "document": doc.pk, "sha256": sha,
                                "stamp_mode": use.mode, "use_code": use.code, "stamp_id": cert.stamp_id,
                                "act": act.pk if act else None})
            issued.append(cert)
    return issued
