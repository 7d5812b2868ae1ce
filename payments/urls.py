"""Include from config/urls.py: path("", include("payments.urls"))."""

from django.urls import path

from . import views

urlpatterns = [
    path("pagamenti/", views.payments_page, name="payments"),
    path("pagamenti/esporta/<str:fmt>/", views.payments_export, name="payments_export"),
    path("pagamenti/<str:pk>/avviso/", views.payment_notice, name="payments_notice"),
    path("pagamenti/<str:pk>/annulla/", views.payment_invalidate, name="payments_invalidate"),
    path("pagamenti/<str:pk>/rimborso/", views.payment_refund, name="payments_refund"),
    path("pagamenti/rimborsi/<str:pk>/decidi/", views.refund_decide, name="payments_refund_decide"),
    path("pagamenti/rimborsi/<str:pk>/bonifico/", views.refund_paid, name="payments_refund_paid"),
]
