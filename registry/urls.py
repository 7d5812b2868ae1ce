"""Include from config/urls.py: path("", include("registry.urls"))."""

from django.urls import path

from . import views, views_civil

urlpatterns = [
    path("anagrafe/", views.person_search, name="registry_search"),
    path("anagrafe/persone/<str:person_id>/", views.person_detail, name="registry_person"),
    path("anagrafe/famiglie/<str:household_id>/", views.household_detail, name="registry_household"),
    path("anagrafe/stradario/", views.street_list, name="registry_streets"),
    path("anagrafe/stradario/<str:street_id>/", views.street_detail, name="registry_street"),
    path("anagrafe/civici/<str:house_number_id>/", views.house_number_detail, name="registry_house_number"),
    path("anagrafe/importazioni/", views.import_run_list, name="registry_imports"),
    path("anagrafe/importazioni/<str:run_id>/", views.import_run_detail, name="registry_import"),
    path("anagrafe/importazioni/<str:run_id>/avanzamento/", views.import_run_progress, name="registry_import_progress"),
    # Civil-status registers and the ANPR alignment check (registry/views_civil.py).
    path("anagrafe/atti/", views_civil.act_search, name="registry_acts"),
    path("anagrafe/atti/<str:act_id>/", views_civil.act_detail, name="registry_act"),
    path("anagrafe/allineamento/", views_civil.alignment_page, name="registry_alignment"),
    path("anagrafe/allineamento/differenze/<str:difference_id>/", views_civil.alignment_decide,
         name="registry_alignment_decide"),
]

# Certificates at the counter (issue 13): registry/views_certificates.py
from . import views_certificates  # noqa: E402

urlpatterns += [
    path("anagrafe/persone/<str:person_id>/certificati/", views_certificates.certificate_counter,
         name="registry_certificates"),
    path("anagrafe/persone/<str:person_id>/certificati/<str:certificate_id>/pdf", views_certificates.certificate_pdf,
         name="registry_certificate_pdf"),
    path("anagrafe/persone/<str:person_id>/certificati/pagamenti/<str:payment_id>/",
         views_certificates.certificate_payment, name="registry_certificate_payment"),
    path("anagrafe/persone/<str:person_id>/certificati/pagamenti/<str:payment_id>/avviso.pdf",
         views_certificates.certificate_payment_notice, name="registry_certificate_payment_notice"),
]
