"""Include from config/urls.py: path("", include("support.urls"))."""

from django.urls import path

from . import views

urlpatterns = [
    path("assistenza/segnala/", views.report_problem, name="support_report_problem"),
    path("assistenza/sla/", views.report_page, name="support_sla_report"),
    path("assistenza/livelli/", views.terms_page, name="support_terms"),
    path("assistenza/sla/export.<str:fmt>", views.report_export, name="support_sla_export"),
    path("assistenza/segnalazioni/", views.my_tickets, name="support_my_tickets"),
    path("assistenza/segnalazioni/<str:pk>/", views.my_ticket, name="support_my_ticket"),
]
