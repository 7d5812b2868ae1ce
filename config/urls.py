from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views_security
from identity.idps import demo_idp_enabled

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file (?script): no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/token/", views_security.TokenObtainView.as_view(), name="api-token"),
    path("api/v1/", include("config.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accedi/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accedi/verifica/", views_security.two_factor_verify, name="two_factor_verify"),
    path("sicurezza/due-fattori/", views_security.two_factor_setup, name="two_factor_setup"),
    path("esci/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("accounts.urls")),
    path("", include("backoffice.urls")),
    path("", include("cases.urls")),
    path("", include("documents.urls")),
    path("", include("forms.urls")),
    path("", include("registry.urls")),
    path("", include("noticeboard.urls")),
    path("", include("identity.urls")),
    path("", include("support.urls")),
    path("", include("studio.urls")),
    path("area-personale/", include("portal.urls")),
    path("", include("payments.urls")),
]
# The demo identity provider is not even mounted in production (its views also answer 404 when disabled).
if demo_idp_enabled():
    urlpatterns.append(path("", include("identity.demo_idp.urls")))
