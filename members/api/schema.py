"""OpenAPI bits reused across views."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

# One "Error" component for the whole schema (scrm.api.schema adds it to every operation).
from scrm.api.schema import ERROR  # noqa: F401  (imported from here by the apps' views)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Optional, at most 128 characters. Retrying with the same key and body replays the "
        "first answer without doing anything twice; the same key with another body is a 422; "
        "a retry while the first request is still running is a 409."
    ),
)


VALIDATION_ERROR = OpenApiResponse(
    description="Field errors: {field: [message, ...]}, or non_field_errors.",
    response=OpenApiTypes.OBJECT,
)

IDEMPOTENCY_RESPONSES = {
    409: OpenApiResponse(ERROR, description="The same Idempotency-Key is still being processed."),
    422: OpenApiResponse(ERROR, description="The Idempotency-Key was used with another body."),
}
