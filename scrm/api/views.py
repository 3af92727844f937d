"""Project-level API views."""

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
