"""Small helpers shared by the referrals admin pages."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from members.identity import phone_normalise


def member_link(member_id, label=None):
    if not member_id:
        return "-"
    url = reverse("admin:members_member_change", args=[member_id])
    return format_html('<a href="{}">{}</a>', url, label or f"#{member_id}")


def tree_link(member_id, label):
    url = reverse("admin:referrals_referralnode_change", args=[member_id])
    return format_html('<a href="{}">{}</a>', url, label)


def member_search(term: str, *, prefix: str) -> Q | None:
    """#id, an id, or a phone in any format, on the member at ``prefix`` (index look-ups)."""
    term = term.strip().lstrip("#")
    if not term:
        return None
    if term.isdigit() and len(term) < 11:
        return Q(**{f"{prefix}_id": int(term)})
    try:
        return Q(**{f"{prefix}__phone": phone_normalise(term)})
    except ValidationError:
        return Q(pk__in=[])
