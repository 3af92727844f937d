"""Rendering members for the list and detail endpoints from value rows.

The member list is the hottest endpoint (guides scroll it, shop systems look phones up), and
building model instances for a page of members, their tags and consents, then walking a
ModelSerializer field by field, cost ~8x the time of reading the same data as value rows. So
the endpoints render from ``values()`` rows here, in three queries per page whatever its size.

MemberSerializer stays the contract: it documents the shape in the OpenAPI schema, and
tests/members/test_api_members.py checks that both produce the same JSON.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import F, QuerySet
from rest_framework import serializers

from members.identity import id_mask, phone_mask
from members.models import Consent, Member, MemberTag

COLUMNS = (
    "id",
    "name",
    "gender",
    "birthday",
    "province",
    "city",
    "phone",
    "unionid",
    "openid",
    "wecom_external_userid",
    "source",
    "guide_id",
    "status",
    "points_balance",
    "order_count",
    "total_paid",
    "total_margin",
    "first_purchase_at",
    "last_purchase_at",
    "created_at",
    "updated_at",
)

# DRF's own fields format values exactly as the serializers do (time zone, decimals).
_datetime = serializers.DateTimeField()
_date = serializers.DateField()
_money = serializers.DecimalField(max_digits=14, decimal_places=2)


def member_values(queryset: QuerySet[Member]) -> QuerySet:
    """``queryset`` as value rows with what render_members needs; store and tier codes come
    from a join, not a query per member."""
    return queryset.values(
        *COLUMNS, home_store_code=F("home_store__code"), tier_code=F("tier__code")
    )


def _tags_by_member(ids: list[int]) -> dict[int, list[dict]]:
    tags: dict[int, list[dict]] = defaultdict(list)
    rows = (
        MemberTag.objects.filter(member_id__in=ids)
        .order_by("pk")
        .values_list("member_id", "tag_id", "tag__name", "tag__group_id", "source", "created_at")
    )
    for member_id, tag_id, name, group_id, source, created_at in rows:
        tags[member_id].append(
            {
                "id": tag_id,
                "name": name,
                "group": group_id,
                "source": source,
                "tagged_at": _datetime.to_representation(created_at),
            }
        )
    return tags


def _consents_by_member(ids: list[int]) -> dict[int, dict[str, str]]:
    consents: dict[int, dict[str, str]] = defaultdict(dict)
    rows = (
        Consent.objects.filter(member_id__in=ids)
        .order_by("channel")
        .values_list("member_id", "channel", "status")
    )
    for member_id, channel, status in rows:
        consents[member_id][channel] = status
    return consents


def render_members(rows: Iterable[dict], *, mask: bool) -> list[dict]:
    """The API representation of member value rows (from member_values), with their tags and
    consents fetched in one query each. ``mask`` hides phones and WeChat ids (guides)."""
    rows = list(rows)
    ids = [row["id"] for row in rows]
    tags = _tags_by_member(ids) if ids else {}
    consents = _consents_by_member(ids) if ids else {}
    hide_phone = phone_mask if mask else _same
    hide_id = id_mask if mask else _same
    return [
        {
            "id": row["id"],
            "name": row["name"],
            "gender": row["gender"],
            "birthday": _date.to_representation(row["birthday"]) if row["birthday"] else None,
            "province": row["province"],
            "city": row["city"],
            "phone": hide_phone(row["phone"]),
            "unionid": hide_id(row["unionid"]),
            "openid": hide_id(row["openid"]),
            "wecom_external_userid": hide_id(row["wecom_external_userid"]),
            "source": row["source"],
            "home_store": row["home_store_code"],
            "guide": row["guide_id"],
            "tier": row["tier_code"],
            "status": row["status"],
            "points_balance": row["points_balance"],
            "order_count": row["order_count"],
            "total_paid": _money.to_representation(row["total_paid"]),
            "total_margin": _money.to_representation(row["total_margin"]),
            "first_purchase_at": _datetime.to_representation(row["first_purchase_at"]),
            "last_purchase_at": _datetime.to_representation(row["last_purchase_at"]),
            "tags": tags.get(row["id"], []),
            "consents": consents.get(row["id"], {}),
            "created_at": _datetime.to_representation(row["created_at"]),
            "updated_at": _datetime.to_representation(row["updated_at"]),
        }
        for row in rows
    ]


def _same(value):
    return value
