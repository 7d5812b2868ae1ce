from django.apps import AppConfig


class FormsConfig(AppConfig):
    name = "forms"
    label = "procedo_forms"
    verbose_name = "Moduli"
