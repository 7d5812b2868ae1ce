from django.urls import path

from . import views

# Tenant administration (/amministrazione/...) lives in the backoffice app, above accounts.
urlpatterns = [
    path("ente/<str:pk>/stemma/", views.tenant_coat_of_arms, name="tenant_coat_of_arms"),
    path("password/", views.password_change, name="password_change"),
]
