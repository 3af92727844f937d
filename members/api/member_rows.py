"""Rendering members for the list, lookup and detail endpoints in one SQL statement.

The member list is the hottest endpoint (guides scroll it, shop systems look phones up at the
till). Building model instances for a page of members, their tags and consents, then walking a
ModelSerializer field by field, cost ~8x the time of this module. Here one statement returns
each member's columns with its tags and consents already aggregated as JSON by the database
(json_agg on PostgreSQL, json_group_array on SQLite); Python only formats values.

MemberSerializer stays the contract: it documents the shape in the OpenAPI schema, and
tests/members/test_api_members.py checks that both produce the same JSON on both databases.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from members.identity import email_mask, id_mask, phone_mask
from members.models import Consent, Member, MemberTag, Store, Tag, Tier

_MEMBER_COLUMNS = (
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
    "email",
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

# A member's tags as [[tag id, name, group id, source, tagged at], ...] and consents as
# {channel: status}, aggregated per member by the database's own JSON functions.
_AGGREGATES = {
    "postgresql": (
        "(SELECT json_agg(json_build_array(mt.tag_id, tg.name, tg.group_id, mt.source,"
        " mt.created_at) ORDER BY mt.id)::text FROM {membertag} mt JOIN {tag} tg"
        " ON tg.id = mt.tag_id WHERE mt.member_id = m.id)",
        "(SELECT json_object_agg(c.channel, c.status)::text FROM {consent} c"
        " WHERE c.member_id = m.id)",
    ),
    "sqlite": (
        "(SELECT json_group_array(json_array(x.tag_id, x.name, x.group_id, x.source,"
        " x.created_at)) FROM (SELECT mt.tag_id, tg.name, tg.group_id, mt.source,"
        " mt.created_at FROM {membertag} mt JOIN {tag} tg ON tg.id = mt.tag_id"
        " WHERE mt.member_id = m.id ORDER BY mt.id) x)",
        "(SELECT json_group_object(c.channel, c.status) FROM {consent} c WHERE c.member_id = m.id)",
    ),
}

_statements: dict[str, str] = {}


def _statement() -> str:
    """The rendering SELECT for this database, built once per process; the caller appends
    ``IN (<ids subquery>)``."""
    vendor = connection.vendor
    if vendor not in _statements:
        tags, consents = _AGGREGATES.get(vendor, _AGGREGATES["postgresql"])
        tables = {
            "membertag": MemberTag._meta.db_table,
            "tag": Tag._meta.db_table,
            "consent": Consent._meta.db_table,
        }
        columns = ", ".join(f"m.{name}" for name in _MEMBER_COLUMNS)
        _statements[vendor] = (
            f"SELECT {columns}, s.code, t.code, {tags.format(**tables)},"
            f" {consents.format(**tables)}"
            f" FROM {Member._meta.db_table} m"
            f" LEFT JOIN {Store._meta.db_table} s ON s.id = m.home_store_id"
            f" LEFT JOIN {Tier._meta.db_table} t ON t.id = m.tier_id"
            " WHERE m.id IN "
        )
    return _statements[vendor]


def _iso(value, tz):
    """A datetime as DRF's DateTimeField writes it (local time zone, ISO 8601, "Z" for UTC).

    Naive values are UTC (SQLite stores them so). DRF looks the current time zone up again
    for each value; a page holds hundreds, so the caller looks it up once."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _money(value) -> str | None:
    # DRF's DecimalField(decimal_places=2) output, for the stats columns.
    return None if value is None else f"{value:.2f}"


def _same(value):
    return value


def render_members(queryset: QuerySet[Member], *, mask: bool) -> list[dict]:
    """The API representation of the members in ``queryset``, newest first, in one statement.

    ``queryset`` only selects which members (its ordering and slicing are not kept: pass the
    ids of a page for a page). ``mask`` hides phones, WeChat ids and emails (guides)."""
    sub_sql, params = queryset.order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"{_statement()}({sub_sql}) ORDER BY m.id DESC", params)
        rows = cursor.fetchall()
    tz = timezone.get_current_timezone()
    hide_phone = phone_mask if mask else _same
    hide_id = id_mask if mask else _same
    hide_email = email_mask if mask else _same
    results = []
    for row in rows:
        (
            pk,
            name,
            gender,
            birthday,
            province,
            city,
            phone,
            unionid,
            openid,
            wecom_id,
            email,
            source,
            guide_id,
            status,
            points,
            order_count,
            total_paid,
            total_margin,
            first_purchase_at,
            last_purchase_at,
            created_at,
            updated_at,
            store_code,
            tier_code,
            tags_json,
            consents_json,
        ) = row
        tags = [
            {
                "id": tag_id,
                "name": tag_name,
                "group": group_id,
                "source": tag_source,
                "tagged_at": _iso(datetime.fromisoformat(tagged_at), tz),
            }
            for tag_id, tag_name, group_id, tag_source, tagged_at in json.loads(tags_json or "[]")
        ]
        consents = json.loads(consents_json) if consents_json else {}
        results.append(
            {
                "id": pk,
                "name": name,
                "gender": gender,
                "birthday": birthday.isoformat() if birthday else None,
                "province": province,
                "city": city,
                "phone": hide_phone(phone),
                "unionid": hide_id(unionid),
                "openid": hide_id(openid),
                "wecom_external_userid": hide_id(wecom_id),
                "email": hide_email(email),
                "source": source,
                "home_store": store_code,
                "guide": guide_id,
                "tier": tier_code,
                "status": status,
                "points_balance": points,
                "order_count": order_count,
                "total_paid": _money(total_paid),
                "total_margin": _money(total_margin),
                "first_purchase_at": _iso(first_purchase_at, tz),
                "last_purchase_at": _iso(last_purchase_at, tz),
                "tags": tags,
                "consents": dict(sorted(consents.items())),
                "created_at": _iso(created_at, tz),
                "updated_at": _iso(updated_at, tz),
            }
        )
    return results
