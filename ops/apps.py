from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations of a deployment: backup and restore (above every domain app)."""

    name = "ops"
    default_auto_field = "django.db.models.BigAutoField"
