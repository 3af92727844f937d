"""Project-level views."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from scrm.health import health_report


@never_cache
@require_GET
def healthz(request):
    """Database and broker status as JSON: 200 when both answer, 503 otherwise."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)
