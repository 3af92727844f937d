"""Site-wide error pages: an API client gets JSON like every other API error, a browser the
usual page. Django calls these for errors raised outside DRF's views (a request with too many
fields, a crash in middleware) when DEBUG is off."""

from __future__ import annotations

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

API_PREFIX = "/api/"


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    """400: e.g. Django refusing a body with more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields."""
    if _is_api(request):
        return JsonResponse({"detail": _("The request could not be read.")}, status=400)
    return defaults.bad_request(request, exception, template_name)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """500: the failure is logged by Django; the client learns nothing of its internals."""
    if _is_api(request):
        return JsonResponse({"detail": _("Something went wrong on our side.")}, status=500)
    return defaults.server_error(request, template_name)
