from django import forms
from django.contrib import admin

from common.errors import ValidationFailed

from .models import SupportTerms
from .terms import validate_terms


class SupportTermsForm(forms.ModelForm):
    class Meta:
        model = SupportTerms
        fields = ("tenant", "calendar", "levels")

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        try:
            data["calendar"], data["levels"] = validate_terms(data.get("calendar"), data.get("levels"))
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(SupportTerms)
class SupportTermsAdmin(admin.ModelAdmin):
    """Platform operators set a tenant's terms from its contract; validated like support.services."""

    form = SupportTermsForm
    list_display = ("tenant", "updated_at")
