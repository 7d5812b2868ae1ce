from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("servizi/", views.catalogue, name="catalogue"),
    path("servizi/<slug:process_id>/", views.service_page, name="service"),
    path("servizi/<slug:process_id>/domanda/", views.request_step, name="request_step"),
    path("servizi/<slug:process_id>/domanda/allegati/", views.request_attachments, name="request_attachments"),
    path("servizi/<slug:process_id>/domanda/riepilogo/", views.request_summary, name="request_summary"),
    path("pratiche/", views.case_list, name="cases"),
    path("pratiche/<str:case_id>/inviata/", views.submitted, name="submitted"),
    path("pratiche/<str:pk>/", views.case_detail, name="case"),
    path("pratiche/<str:pk>/risposta/", views.case_reply, name="case_reply"),
    path("pratiche/<str:pk>/ritiro/", views.case_withdraw, name="case_withdraw"),
    path("documenti/", views.document_list, name="documents"),
    path("documenti/<str:pk>/", views.document_download, name="document"),
    path("pagamenti/", views.payment_list, name="payments"),
    path("pagamenti/<str:pk>/paga/", views.payment_pay, name="payment_pay"),
    path("pagamenti/<str:pk>/esito/", views.payment_return, name="payment_return"),
    path("pagamenti/<str:pk>/avviso.pdf", views.payment_notice, name="payment_notice"),
    path("certificati/", views.certificates, name="certificates"),
    path("certificati/<str:pk>/", views.certificate_detail, name="certificate"),
    path("preferenze/", views.preferences, name="preferences"),
]
