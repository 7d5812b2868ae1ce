from django.urls import path

from . import views

app_name = "demo_idp"

urlpatterns = [
    path("demo-idp/metadata/", views.metadata, name="metadata"),
    path("demo-idp/sso/", views.sso, name="sso"),
    path("demo-idp/slo/", views.slo, name="slo"),
    path("demo-idp/esci/", views.logout_start, name="logout"),
]
