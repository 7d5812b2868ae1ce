"""Include from config/urls.py: path("", include("payments.urls"))."""

from django.urls import path

from . import views

urlpatterns = [
    path("pagamenti/", views.payments_page, name="payments"),
    path("pagamenti/esporta/<str:fmt>/", views.payments_export, name="payments_export"),
    path("pagamenti/<str:pk>/annulla/", views.payment_invalidate, name="payments_invalidate"),
]
