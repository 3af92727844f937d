"""Rendering members for the list, lookup and detail endpoints in one SQL statement.

The member list is the hottest endpoint (guides scroll it, shop systems look phones up at the
till). Building model instances for a page of members, their tags and consents, then walking a
ModelSerializer field by field, cost ~8x the time of this module. Here one statement renders
the members (and, for the list, finds the page: members.api.member_page). On PostgreSQL each
member comes back as its final JSON (members.api.member_json), which the list passes through
untouched to callers who see members unmasked and parses for the others; on SQLite (and for a
time zone without an IANA name) it returns the member's columns with its tags and consents
aggregated as JSON (json_group_array), and Python formats the values.

MemberSerializer stays the contract: it documents the shape in the OpenAPI schema, and
tests/members/test_api_members*.py check that both produce the same JSON on both databases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import QuerySet
from django.utils import timezone
from psycopg.adapt import Loader

from members.api.member_json import member_json
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

# The member columns the rendering reads from the row ``m`` (a page selects just these).
ROW_COLUMNS = (*_MEMBER_COLUMNS, "home_store_id", "tier_id")

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

_select_lists: dict[str, str] = {}


def _select_list() -> str:
    """The rendering columns where Python formats the values (_format), built once per
    process per database: a member's columns,
    its store and tier codes and its tags and consents, each from the row ``m`` alone (scalar
    subqueries, no joins), so a page read by an index scan under LIMIT renders only the rows
    it returns."""
    vendor = connection.vendor
    if vendor not in _select_lists:
        tags, consents = _AGGREGATES.get(vendor, _AGGREGATES["postgresql"])
        tables = {
            "membertag": MemberTag._meta.db_table,
            "tag": Tag._meta.db_table,
            "consent": Consent._meta.db_table,
        }
        columns = ", ".join(f"m.{name}" for name in _MEMBER_COLUMNS)
        _select_lists[vendor] = (
            f"{columns},"
            f" (SELECT s.code FROM {Store._meta.db_table} s WHERE s.id = m.home_store_id),"
            f" (SELECT t.code FROM {Tier._meta.db_table} t WHERE t.id = m.tier_id),"
            f" {tags.format(**tables)}, {consents.format(**tables)}"
        )
    return _select_lists[vendor]


class _PreparingCursor(psycopg.RawCursor):
    """A server-side binding cursor with PostgreSQL's own placeholders ($1): psycopg prepares
    a statement it has run ``prepare_threshold`` times on the connection, so PostgreSQL stops
    planning it on every request, and psycopg does not parse the statement (~9 kB, past the
    size it caches its parsing for) for %s placeholders on every run. Django's own cursors
    bind on the client and never prepare."""


def _cursor(*, prepare: bool):
    """(cursor, native): a Django cursor (counted by assertNumQueries, logged under DEBUG)
    and whether it takes $1 placeholders. With ``prepare``, on PostgreSQL when prepared
    statements are enabled (DATABASES OPTIONS prepare_threshold, scrm/settings.py), one over
    _PreparingCursor: only for our own statements, whose text is constant and whose
    parameters are plain values."""
    db = connections[DEFAULT_DB_ALIAS]
    if not prepare or db.vendor != "postgresql":
        return db.cursor(), False
    db.close_if_health_check_failed()
    db.ensure_connection()
    if db.connection.prepare_threshold is None:
        return db.cursor(), False
    db.validate_thread_sharing()
    raw = _PreparingCursor(db.connection)
    return (db.make_debug_cursor(raw) if db.queries_logged else db.make_cursor(raw)), True


def _numbered(sql: str) -> str:
    """``sql`` with its %s placeholders as $1, $2, ... (it has no other %)."""
    parts = sql.split("%s")
    numbered = [parts[0]]
    for number, part in enumerate(parts[1:], start=1):
        numbered.append(f"${number}{part}")
    return "".join(numbered)


# Prepared statements as the bytes sent, by time zone and FROM clause: the same bytes object
# each time also keeps its hash for psycopg's prepared-statement lookup. Bounded: page sizes and
# offsets vary, and hand-made cursors should not grow it without end.
_statements: dict[tuple[str, str], bytes] = {}
_MAX_STATEMENTS = 500


def _statement(tz_name: str, source: str) -> bytes:
    key = (tz_name, source)
    statement = _statements.get(key)
    if statement is None:
        if len(_statements) >= _MAX_STATEMENTS:
            _statements.clear()
        statement = f"SELECT m.id, {member_json(tz_name)} FROM {source}".encode()
        _statements[key] = statement
    return statement


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


@dataclass(frozen=True, slots=True)
class MemberJSON:
    """A member rendered by PostgreSQL: its id (for cursors and audits) and its JSON as UTF-8
    bytes, exactly what JSONRenderer makes of MemberSerializer's output."""

    id: int
    json: bytes


class _BytesLoader(Loader):
    """Text as the bytes PostgreSQL sent (UTF-8): a page passed through is neither decoded
    nor encoded again (~0.15 ms for 50 members)."""

    def load(self, data) -> bytes:
        return bytes(data)


def render_members(queryset: QuerySet[Member], *, mask: bool) -> list[dict]:
    """The API representation of the members in ``queryset``, newest first, in one statement.

    ``queryset`` only selects which members (its ordering and slicing are not kept: pass the
    ids of a page for a page). ``mask`` hides phones, WeChat ids and emails (guides)."""
    try:
        sub_sql, params = queryset.order_by().values("id").query.sql_with_params()
    except EmptyResultSet:
        return []  # e.g. an id beyond bigint: Django knows no row can match
    return render_rows(
        f"{Member._meta.db_table} m WHERE m.id IN ({sub_sql}) ORDER BY m.id DESC",
        params,
        mask=mask,
        raw=False,
        prepare=False,
    )


def render_queryset_page(
    queryset: QuerySet[Member],
    *,
    after: int | None,
    descending: bool,
    offset: int,
    limit: int,
    mask: bool,
    raw: bool = False,
) -> list[dict | MemberJSON]:
    """As render_member_page, for members selected by any queryset (the FilterSet's): the
    queryset finds the page's ids, walked by key under LIMIT, and the same statement renders
    them."""
    if after is not None:
        queryset = queryset.filter(pk__lt=after) if descending else queryset.filter(pk__gt=after)
    ids = queryset.order_by("-pk" if descending else "pk").values("id")[offset : offset + limit]
    try:
        sub_sql, params = ids.query.sql_with_params()
    except EmptyResultSet:
        return []
    return render_rows(
        f"{Member._meta.db_table} m WHERE m.id IN ({sub_sql})"
        f" ORDER BY m.id {'DESC' if descending else 'ASC'}",
        params,
        mask=mask,
        raw=raw,
        prepare=False,
    )


def render_rows(
    source: str, params, *, mask: bool, raw: bool, prepare: bool
) -> list[dict | MemberJSON]:
    """Run ``SELECT <member> FROM <source>`` (members as ``m``, %s placeholders) and return
    its rows rendered."""
    tz_name = getattr(timezone.get_current_timezone(), "key", None)
    cursor, native = _cursor(prepare=prepare)
    with cursor:
        if cursor.db.vendor != "postgresql" or not tz_name:
            source = _numbered(source) if native else source
            cursor.execute(f"SELECT {_select_list()} FROM {source}", params)
            return _format(cursor.fetchall(), mask=mask)
        if raw and not mask:
            cursor.adapters.register_loader("text", _BytesLoader)
        if native:
            cursor.execute(_statement(tz_name, _numbered(source)), params)
        else:
            cursor.execute(f"SELECT m.id, {member_json(tz_name)} FROM {source}", params)
        rows = cursor.fetchall()
    if raw and not mask:
        return [MemberJSON(pk, text) for pk, text in rows]
    members = [json.loads(text) for _pk, text in rows]
    return [_masked(member) for member in members] if mask else members


def _masked(member: dict) -> dict:
    member["phone"] = phone_mask(member["phone"])
    for field in ("unionid", "openid", "wecom_external_userid"):
        member[field] = id_mask(member[field])
    member["email"] = email_mask(member["email"])
    return member


def _format(rows, *, mask: bool) -> list[dict]:
    """Rows of _select_list as the API writes them."""
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
