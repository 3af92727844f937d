"""Building blocks shared by the members admin: roles, read-only admins, store-scoped lists."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet

from members.admin.paginator import EstimatedCountPaginator
from members.selectors import members_visible_to
from scrm.api.permissions import is_guide, is_operator


def guide_restricted(request) -> bool:
    """True for a shop guide who is not also an operator: their store only, no exports."""
    user = request.user
    return is_guide(user) and not is_operator(user)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record nobody edits in the admin (ledgers, logs): view permission only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BigTableAdmin(admin.ModelAdmin):
    """Lists over tables with millions of rows: no second COUNT(*), estimated counts on
    PostgreSQL, and ordering by primary key so pages come from an index."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    # Facet counts run one COUNT per filter choice: seconds per page load on a big table.
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50


class MemberScopedAdmin(BigTableAdmin):
    """Rows that hang off a member (orders, events, points, coupons): a guide sees only those
    of the members they may see (members.selectors.members_visible_to)."""

    # Path from this model to its member.
    member_path = "member"

    def get_queryset(self, request) -> QuerySet:
        queryset = super().get_queryset(request)
        if is_operator(request.user):
            return queryset
        visible = members_visible_to(request.user).values("pk")
        return queryset.filter(**{f"{self.member_path}__in": visible})
