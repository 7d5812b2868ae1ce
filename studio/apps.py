from django.apps import AppConfig


class StudioConfig(AppConfig):
    """The process studio: a municipality's process administrators adapt shipped procedures into
    their own variants (drafts), validate them, get a second person's approval and publish them.
    It sits above engine, forms and documents (and cases, for the pages' tenancy)."""

    name = "studio"
    verbose_name = "Studio dei procedimenti"
    default_auto_field = "django.db.models.BigAutoField"
