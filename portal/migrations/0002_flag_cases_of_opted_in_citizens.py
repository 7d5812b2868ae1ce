"""Case.subjects_watched for the cases that exist already: true when an opted-in citizen of the tenant is
one of their subjects (what portal.signals keeps true from now on)."""

from django.db import migrations
from django.db.models import Exists, OuterRef, Q


def flag(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    CaseSubject = apps.get_model("cases", "CaseSubject")
    CitizenProfile = apps.get_model("portal", "CitizenProfile")
    opted_in = CitizenProfile.objects.filter(Q(io_opt_in=True) | Q(email_opt_in=True), tenant_id=OuterRef("tenant_id"),
                                             user__fiscal_code=OuterRef("fiscal_code"))
    watched = CaseSubject.objects.filter(Exists(opted_in)).values("case_id")
    Case.objects.filter(pk__in=watched, subjects_watched=False).update(subjects_watched=True)


class Migration(migrations.Migration):

    dependencies = [
        ("portal", "0001_initial"),
        ("cases", "0010_case_subjects_watched"),
    ]

    operations = [migrations.RunPython(flag, migrations.RunPython.noop)]
