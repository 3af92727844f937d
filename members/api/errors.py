"""Turning service errors into API errors: a clear 400 with field errors, never a 500.

Services raise django.core.exceptions.ValidationError, with field names where they apply
(DESIGN.md). DRF only renders its own ValidationError, so views call services inside
``service_errors()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers
from rest_framework.fields import get_error_detail
from rest_framework.settings import api_settings


def drf_validation_error(
    exc: DjangoValidationError, *, rename: dict[str, str] | None = None
) -> serializers.ValidationError:
    """A DRF ValidationError carrying ``exc``'s messages: per field when the service named
    fields (``rename`` maps service field names to the request's), else as non-field errors."""
    detail = get_error_detail(exc)
    if isinstance(detail, list):
        return serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: detail})
    rename = rename or {}
    fields = {}
    for field, messages in detail.items():
        key = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field
        fields[rename.get(key, key)] = messages
    return serializers.ValidationError(fields)


class Conflict(exceptions.APIException):
    """Another request changed the same record at the same moment; retrying is safe."""

    status_code = 409
    default_detail = _("A concurrent request changed the same data; retry the request.")
    default_code = "conflict"


@contextmanager
def service_errors(*, rename: dict[str, str] | None = None) -> Iterator[None]:
    """Run a service call, turning its ValidationError into a 400 and a unique-constraint race
    (two requests creating the same identity at once) into a 409 the client may retry."""
    try:
        yield
    except DjangoValidationError as exc:
        raise drf_validation_error(exc, rename=rename) from exc
    except IntegrityError as exc:
        # The service's transaction has rolled back, so nothing was written.
        raise Conflict() from exc
