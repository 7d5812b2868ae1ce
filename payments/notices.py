"""The pagoPA payment notice (avviso di pagamento) of any position, as a one-page PDF with the pagoPA QR
code (PAGOPA|002|<notice number>|<creditor fiscal code>|<amount in cents>, the code every pagoPA app and
PSP reads). One builder for the three places that hand a notice over: the citizen's personal area, the
counter (stamp duty of a certificate) and the office's payments page (e.g. the banns' stamp duty given to
the spouses at the counter)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from accounts.models import Tenant
from connectors.pagopa.models import DebtPosition
from registry.certificates import fastpdf


class _Layout:
    """What registry.certificates.services.base_for needs of a layout: a code and its arguments."""

    def __init__(self, code: str, layout_args: tuple[str, ...]) -> None:
        self.code, self.layout_args = code, layout_args


NOTICE_LAYOUT = _Layout("avviso_pagopa", ("Servizi demografici", "", "", "Avviso di pagamento pagoPA."))


def notice_qr(position: DebtPosition) -> str:
    return f"PAGOPA|002|{position.notice_number}|{position.organization_fiscal_code}|{position.amount_cents}"


def notice_pdf(*, tenant: Tenant, position: DebtPosition, note: str = "") -> bytes:
    """The notice of `position` (the caller has checked that the reader may see it); `note` is a last line
    saying what the payment is for (e.g. that a certificate is issued once paid)."""
    from registry.certificates.services import base_for

    amount = f"{position.amount_cents / 100:.2f}".replace(".", ",")
    lines = [
        fastpdf.Line(_("Avviso di pagamento pagoPA"), bold=True),
        fastpdf.Line(_("Ente creditore: %(e)s (codice fiscale %(cf)s)") % {
            "e": tenant.name, "cf": position.organization_fiscal_code}, space_before=6),
        fastpdf.Line(_("Causale: %(c)s") % {"c": position.description}),
        fastpdf.Line(_("Destinatario: %(cf)s") % {"cf": position.debtor_fiscal_code}),
        fastpdf.Line(_("Importo: %(a)s euro") % {"a": amount}, bold=True, space_before=6),
        fastpdf.Line(_("Codice avviso: %(n)s") % {"n": position.notice_number}, bold=True),
        fastpdf.Line(_("Puoi pagare online, in app, presso banche, uffici postali e punti vendita aderenti a pagoPA "
                       "inquadrando il codice QR o indicando il codice avviso e il codice fiscale dell'ente."),
                     space_before=8),
    ]
    if position.due_date:
        lines.insert(5, fastpdf.Line(_("Da pagare entro il %(d)s") % {"d": position.due_date.strftime("%d/%m/%Y")}))
    if note:
        lines.append(fastpdf.Line(note, space_before=8))
    footer = [_("Codice avviso %(n)s") % {"n": position.notice_number},
              _("Codice fiscale ente %(cf)s") % {"cf": position.organization_fiscal_code}]
    return fastpdf.fill(base_for(tenant, NOTICE_LAYOUT), fastpdf.overlay_ops(lines, footer, notice_qr(position)))
