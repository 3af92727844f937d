"""`python manage.py setup_roles`: the Django groups behind the two staff roles.

- "Operators" (运营): every permission of the business apps (members, groups, referrals,
  campaigns), so models added later are covered by running the command again after migrating,
  plus read access to the system pages (API keys, worker heartbeats). This includes the custom
  member permissions: full phones, export, merge and erase (members.erase_members).
- "Shop guides" (导购): read their store's members and what hangs off them, edit a member's
  profile, tag and untag. No export, merge, erasure, delete or full phone numbers. Which
  members a guide sees is decided by members.selectors.members_visible_to, not by these
  permissions.

Users with a shop-guide profile made outside the admin (seed_demo, scripts) are put in "Shop
guides" too. Idempotent: running it again adds what is missing. ``--reset`` also removes
permissions that were granted to the groups by hand.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

OPERATORS = "Operators"
SHOP_GUIDES = "Shop guides"

OPERATOR_APPS = ("members", "groups", "referrals", "campaigns")
OPERATOR_EXTRA = ("scrm.view_apikey", "scrm.view_workerheartbeat")
GUIDE_PERMISSIONS = (
    "members.view_member",
    "members.change_member",
    "members.view_membertag",
    "members.add_membertag",
    "members.delete_membertag",
    "members.view_tag",
    "members.view_taggroup",
    "members.view_store",
    "members.view_tier",
    "members.view_order",
    "members.view_pointsentry",
    "members.view_coupon",
    "members.view_event",
    "members.view_consent",
    # Community groups of their own store (the groups admin filters by store).
    "groups.view_communitygroup",
    "groups.add_communitygroup",
    "groups.change_communitygroup",
    "groups.view_joincode",
    "groups.add_joincode",
    "groups.view_groupmembership",
)


def _by_names(names) -> Q:
    query = Q(pk__in=[])
    for name in names:
        app_label, codename = name.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    return query


def role_permissions(role: str) -> list[Permission]:
    """The permissions a role's group should hold (those that exist in this database)."""
    if role == OPERATORS:
        query = Q(content_type__app_label__in=OPERATOR_APPS) | _by_names(OPERATOR_EXTRA)
    elif role == SHOP_GUIDES:
        query = _by_names(GUIDE_PERMISSIONS)
    else:
        raise ValueError(f"unknown role {role!r}")
    return list(Permission.objects.filter(query).select_related("content_type"))


@transaction.atomic
def role_group(role: str, *, reset: bool = False) -> Group:
    """Create or complete the group of ``role``; with ``reset`` its permissions become exactly
    the role's."""
    group, _created = Group.objects.get_or_create(name=role)
    permissions = role_permissions(role)
    if reset:
        group.permissions.set(permissions)
    else:
        group.permissions.add(*permissions)
    return group


class Command(BaseCommand):
    help = 'Create or update the "Operators" and "Shop guides" groups and their permissions.'

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Remove permissions granted to these groups by hand.",
        )

    def handle(self, *args, reset=False, **options):
        missing = [
            name
            for name in GUIDE_PERMISSIONS
            if not Permission.objects.filter(_by_names([name])).exists()
        ]
        if missing:
            self.stderr.write(
                self.style.WARNING("Permissions not found (run migrate?): " + ", ".join(missing))
            )
        for role in (OPERATORS, SHOP_GUIDES):
            group = role_group(role, reset=reset)
            if role == SHOP_GUIDES:
                group.user_set.add(*get_user_model().objects.filter(guide__isnull=False))
            self.stdout.write(
                f"{group.name}: {group.permissions.count()} permissions, "
                f"{group.user_set.count()} users"
            )
