"""Django admin for connector configuration: credentials are write-only (never shown back)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import ConnectorConfig


class ConnectorConfigForm(forms.ModelForm):
    new_credentials = forms.CharField(
        label=_("Nuove credenziali (JSON)"), required=False, widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Lascia vuoto per mantenere quelle salvate. Le credenziali sono cifrate e non vengono "
                    "mai mostrate; qui sotto compaiono solo i nomi dei campi salvati."),
    )

    class Meta:
        model = ConnectorConfig
        fields = ["tenant", "platform", "base_url", "settings", "is_active"]
        widgets = {"base_url": forms.URLInput()}
        field_classes = {"base_url": forms.URLField}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["base_url"].assume_scheme = "https"

    def clean_new_credentials(self) -> dict | None:
        raw = (self.cleaned_data.get("new_credentials") or "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(_("Non è un JSON valido: %(error)s") % {"error": exc}) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Le credenziali devono essere un oggetto JSON."))
        return value

    def save(self, commit: bool = True) -> ConnectorConfig:
        config = super().save(commit=False)
        if self.cleaned_data.get("new_credentials") is not None:
            config.credentials = self.cleaned_data["new_credentials"]
        if commit:
            config.save()
        return config


@admin.register(ConnectorConfig)
class ConnectorConfigAdmin(admin.ModelAdmin):
    form = ConnectorConfigForm
    list_display = ("tenant", "platform", "base_url", "is_active")
    list_filter = ("platform", "is_active")
    readonly_fields = ("stored_credential_fields",)

    @admin.display(description=_("Campi delle credenziali salvate"))
    def stored_credential_fields(self, obj: ConnectorConfig) -> str:
        return ", ".join(sorted((obj.credentials or {}).keys())) or "—"
