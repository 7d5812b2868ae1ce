from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """Tenant administration pages (users and roles, incidents, deed templates, the municipality's
    settings). It sits above accounts, cases and documents, so that accounts never imports them."""

    name = "backoffice"
    verbose_name = "Amministrazione dell'ente"
