"""Include from config/urls.py: path("", include("registry.urls"))."""

from django.urls import path

from . import views

urlpatterns = [
    path("anagrafe/", views.person_search, name="registry_search"),
    path("anagrafe/persone/<str:person_id>/", views.person_detail, name="registry_person"),
    path("anagrafe/famiglie/<str:household_id>/", views.household_detail, name="registry_household"),
    path("anagrafe/stradario/", views.street_list, name="registry_streets"),
    path("anagrafe/stradario/<str:street_id>/", views.street_detail, name="registry_street"),
    path("anagrafe/civici/<str:house_number_id>/", views.house_number_detail, name="registry_house_number"),
    path("anagrafe/importazioni/", views.import_run_list, name="registry_imports"),
    path("anagrafe/importazioni/<str:run_id>/", views.import_run_detail, name="registry_import"),
]
