from django.urls import path

from . import views

app_name = "identity"

urlpatterns = [
    path("spid/metadata/", views.metadata, name="metadata"),
    path("cie/metadata/", views.metadata_cie, name="metadata_cie"),
    path("spid/accedi/", views.choose, name="choose"),
    path("spid/accedi/avvia/", views.login_start, name="login"),
    path("spid/acs/", views.acs, name="acs"),
    path("spid/slo/", views.slo, name="slo"),
    path("spid/esci/", views.logout_start, name="logout"),
    path("cns/accedi/", views.cns_login, name="cns"),
    path("spid/benvenuto/", views.welcome, name="welcome"),
]
