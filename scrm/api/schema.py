"""The OpenAPI schema documents the errors every operation can answer with, not only its
success: clients (mini-programs, shop backends) code against them, and the property-based
API tests (tests/test_api_fuzz.py) hold the API to them."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})


class ScrmAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error responses the view can give that the view
    did not document itself: 400 (a body or query parameters to get wrong), 401 and 403 (it
    needs a client), 404 (it names an object in its path, or takes a cursor), 429 (it is
    throttled)."""

    def _get_filter_parameters(self):
        # django-filter reads an empty value as "no filter" (``?paid_before=`` lists all), so
        # the schema says an empty value is allowed.
        parameters = super()._get_filter_parameters()
        for parameter in parameters:
            if parameter.get("in") == "query":
                parameter["allowEmptyValue"] = True
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, serializer in self._error_responses():
            if code not in responses:
                responses[code] = self._get_response_for_code(serializer, code, direction=direction)
        return responses

    def _error_responses(self) -> list[tuple[str, object]]:
        errors: list[tuple[str, object]] = []
        query = {p["name"] for p in self._get_parameters() if p.get("in") == "query"}
        has_query = bool(query)
        if self.method in ("POST", "PUT", "PATCH") or has_query:
            # Field errors: {field: [message, ...]}, or {"detail": ...}.
            errors.append(("400", OpenApiTypes.OBJECT))
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            errors += [("401", ERROR), ("403", ERROR)]
        # An object named in the path that is not there (or not the caller's to see), or a
        # cursor that does not come from us ("Invalid cursor").
        if "{" in self.path or "cursor" in query:
            errors.append(("404", ERROR))
        if self.view.get_throttles():
            errors.append(("429", ERROR))
        return errors
