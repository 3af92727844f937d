"""Project-level views."""

from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from scrm.api.permissions import is_guide
from scrm.health import health_report


@require_GET
def home(request):
    """The site's front door: shop guides to their workspace on the phone, everyone else to
    the admin (which asks them to sign in)."""
    if is_guide(request.user):
        return redirect("workspace:today")
    return redirect("admin:index")


@never_cache
@require_GET
def healthz(request):
    """Database and broker status as JSON: 200 when both answer, 503 otherwise."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)
