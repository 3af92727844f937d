"""Pieces shared by the members API views: who is calling, scopes per action, pagination."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from members.choices import TagSource
from members.models import Member
from members.selectors import members_visible_to
from scrm.api.pagination import DefaultCursorPagination
from scrm.api.principals import ApiKeyPrincipal

# Bulk calls that take explicit member ids take at most this many per request; larger sets
# are addressed by a filter, which the services apply in one statement.
MAX_IDS_PER_CALL = 10_000

READ = "members:read"
WRITE = "members:write"
ORDERS_WRITE = "orders:write"
BENEFITS_WRITE = "benefits:write"


def actor_user(request):
    """The Django user behind a request, for audit columns (tagged_by, merged_by); None for
    API keys and members, who are not users."""
    user = request.user
    return user if getattr(user, "pk", None) else None


def write_source(request) -> str:
    """How a write arrived, recorded on tags: API keys are "api", staff are "manual"."""
    return TagSource.API if isinstance(request.user, ApiKeyPrincipal) else TagSource.MANUAL


class ScopedView:
    """Scopes an API key needs, read by scrm.api.permissions.StaffOrScopedKey: ``read_scope``
    for safe methods, ``write_scope`` for the others. Views override them (orders are pushed
    with orders:write, points and coupons need benefits:write)."""

    read_scope = READ
    write_scope = WRITE


class MemberChildMixin:
    """For /members/{member_id}/...: the member must be visible to the caller, else 404, so a
    guide cannot tell another store's member from one that does not exist."""

    _member: Member | None = None

    def get_member(self) -> Member:
        if self._member is None:
            self._member = get_object_or_404(
                members_visible_to(self.request.user), pk=self.kwargs["member_id"]
            )
        return self._member


class NewestFirstPagination(DefaultCursorPagination):
    """Cursor pages, newest id first, at most 200 rows a page."""


class TimelinePagination(DefaultCursorPagination):
    """Events in the order they happened, newest first."""

    ordering = ("-occurred_at", "-id")


class PaidAtPagination(DefaultCursorPagination):
    """A member's orders, latest payment first."""

    ordering = ("-paid_at", "-id")


class SortedPagination(DefaultCursorPagination):
    """Tag groups and tags in the order operators arranged them."""

    ordering = ("sort", "id")
