"""URL root: admin, the guide workspace, REST API v1 with its OpenAPI schema and docs, health
check."""

from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from scrm import views

admin.site.site_header = _("SCRM member operations")
admin.site.site_title = _("SCRM")
admin.site.index_title = _("Members, tags, orders and benefits")

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("workspace/", include("workspace.urls")),
    path("api/v1/", include("scrm.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = "scrm.errors.bad_request"
handler500 = "scrm.errors.server_error"
