"""Idempotency-Key support for POST endpoints (RELIABILITY.md, delivery semantics).

Same key and same body: the stored response is replayed and nothing happens twice. Same key and
another body: 422. The same key while the first request is still running: 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from rest_framework.request import Request
from rest_framework.response import Response

from scrm.models import IdempotencyRecord

HEADER = "Idempotency-Key"


def client_id(request: Request) -> str:
    """A stable id of the caller, so two clients' keys never collide."""
    user = request.user
    return getattr(user, "client_id", None) or f"user:{getattr(user, 'pk', None)}"


def _body_hash(request: Request) -> str:
    try:
        canonical = json.dumps(request.data, sort_keys=True, default=str)
    except TypeError:
        canonical = repr(request.data)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(request: Request, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` at most once per (client, Idempotency-Key); replay its answer on retries."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return handler()
    if len(key) > 128:
        return Response({"detail": _("Idempotency-Key is at most 128 characters.")}, status=400)
    client, body_hash = client_id(request), _body_hash(request)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                client=client, key=key, endpoint=request.path[:200], request_hash=body_hash
            )
    except IntegrityError:
        previous = IdempotencyRecord.objects.get(client=client, key=key)
        if previous.request_hash != body_hash or previous.endpoint != request.path[:200]:
            return Response(
                {"detail": _("This Idempotency-Key was used with a different request.")},
                status=422,
            )
        if previous.status_code is None:
            return Response(
                {"detail": _("A request with this Idempotency-Key is still being processed.")},
                status=409,
            )
        response = Response(previous.response, status=previous.status_code)
        response["Idempotent-Replayed"] = "true"
        return response
    try:
        response = handler()
    except BaseException:
        record.delete()  # nothing was stored for this key, so the client may retry it
        raise
    if response.status_code >= 500:
        record.delete()
    else:
        record.status_code = response.status_code
        record.response = response.data
        record.save(update_fields=["status_code", "response"])
    return response
