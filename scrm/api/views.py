"""Project-level API views."""

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from scrm.api.principals import ApiKeyPrincipal, MemberPrincipal


class WhoAmIView(APIView):
    """Tells an integrator which credential they are calling with and what it may do."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=inline_serializer(
            "WhoAmI",
            {
                "kind": serializers.CharField(),
                "name": serializers.CharField(),
                "scopes": serializers.ListField(child=serializers.CharField()),
            },
        )
    )
    def get(self, request):
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            return Response({"kind": "api_key", "name": user.name, "scopes": sorted(user.scopes)})
        if isinstance(user, MemberPrincipal):
            return Response({"kind": "member", "name": str(user.member_id), "scopes": []})
        kind = "guide" if hasattr(user, "guide") else "staff" if user.is_staff else "user"
        return Response({"kind": kind, "name": user.get_username(), "scopes": []})


@csrf_exempt  # an unsafe method to a missing route is a 404, not a CSRF failure page
def api_not_found(request, *args, **kwargs):
    """Any /api/v1/ address no route matches (``/members/abc/``, a typo): a JSON 404 like
    every other API error, never the HTML page meant for browsers."""
    return JsonResponse({"detail": _("Not found.")}, status=404)
