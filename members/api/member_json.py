"""A member's API representation written by PostgreSQL, byte for byte as DRF writes it.

The member list's page used to come back as columns that Python formatted one value at a time
(datetimes converted to the local time zone, decimals, tags, consents) and DRF's renderer then
encoded: ~2 ms of Python for 50 members, more than the statement. Here the statement returns
each member as the JSON text the endpoint sends (compact separators, keys in MemberSerializer's
order, datetimes as DRF's DateTimeField writes them in the current time zone), and the view
passes it through (members.api.renderers). tests/members/test_api_members*.py compare it with
MemberSerializer, parsed and as bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from functools import cache
from zoneinfo import ZoneInfo

from members.models import Consent, MemberTag, Store, Tag, Tier


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# Where a time zone's offset no longer changes (Asia/Shanghai: +08:00 since 1991), a datetime
# is its UTC time shifted by that offset, written with the offset as a constant: a third of
# the work of asking PostgreSQL for the zone's offset at each value (~0.4 ms on a page of 50
# members with their tags). Only zones whose last change is past are treated so.
_LAST_YEAR = 2100


def _offset_text(offset: timedelta) -> str:
    text = datetime(2000, 1, 1, tzinfo=dt_timezone(offset)).isoformat()[19:]
    return "Z" if text == "+00:00" else text


@cache
def _fixed_offset(tz_name: str) -> tuple[datetime, timedelta] | None:
    """(since, offset): ``tz_name``'s UTC offset is ``offset`` from the instant ``since`` on
    (as far as Python's time zone database says, up to 2100); None when it still changes."""
    zone = ZoneInfo(tz_name)
    end = datetime(_LAST_YEAR, 1, 1, tzinfo=UTC)
    offset = end.astimezone(zone).utcoffset()
    step = timedelta(days=7)
    later = end
    while later.year > 1900:
        earlier = later - step
        if earlier.astimezone(zone).utcoffset() != offset:
            while later - earlier > timedelta(seconds=1):  # the change, to the second
                middle = earlier + (later - earlier) // 2
                if middle.astimezone(zone).utcoffset() == offset:
                    later = middle
                else:
                    earlier = middle
            break
        later = earlier
    if later > datetime.now(UTC):
        return None
    return later.replace(microsecond=0) + timedelta(seconds=1), offset


def _datetime(column: str, tz_name: str) -> str:
    """JSON for a timestamptz ``column``: null, or DRF's ``isoformat()`` of it in the time
    zone ``tz_name`` ("2024-10-19T15:45:46.612716+08:00"; no fraction when it is zero, "Z"
    for UTC)."""

    def written(local: str, offset: str) -> str:
        return (
            f"'\"' || to_char({local}, CASE WHEN"
            f" mod(date_part('microseconds', {column})::int, 1000000) = 0"
            " THEN 'YYYY-MM-DD\"T\"HH24:MI:SS' ELSE 'YYYY-MM-DD\"T\"HH24:MI:SS.US' END)"
            f" || {offset} || '\"'"
        )

    tz = _literal(tz_name)
    local = f"({column} AT TIME ZONE {tz})"
    offset = f"({local} - ({column} AT TIME ZONE 'UTC'))"

    def signed(sign: str, value: str) -> str:
        # Offsets with seconds (local mean time before 1901) keep them, as Python writes them.
        return (
            f"to_char({value}, CASE WHEN date_part('second', {offset}) = 0"
            f" THEN '\"{sign}\"HH24:MI' ELSE '\"{sign}\"HH24:MI:SS' END)"
        )

    general = written(
        local,
        f"CASE WHEN {offset} = interval '0' THEN 'Z'"
        f" WHEN {offset} > interval '0' THEN {signed('+', offset)}"
        f" ELSE {signed('-', '-' + offset)} END",
    )
    fixed = _fixed_offset(tz_name)
    if fixed is None:
        return f"COALESCE({general}, 'null')"
    since, shift = fixed
    shifted = f"(({column} AT TIME ZONE 'UTC') + interval '{int(shift.total_seconds())} seconds')"
    return (
        f"COALESCE(CASE WHEN {column} >= {_literal(since.isoformat())}::timestamptz"
        f" THEN {written(shifted, _literal(_offset_text(shift)))} ELSE {general} END, 'null')"
    )


def _string(expression: str) -> str:
    return f"COALESCE(to_json({expression})::text, 'null')"


def _number(expression: str) -> str:
    return f"COALESCE(({expression})::text, 'null')"


def _decimal(expression: str) -> str:
    # DRF's DecimalField writes a string; the columns have two decimal places, as the field.
    return f"COALESCE('\"' || ({expression})::text || '\"', 'null')"


def _object(pairs: list[tuple[str, str]], *, closed: bool = True) -> str:
    """``{"key":value,...}`` from SQL expressions of JSON values (``closed=False``: without
    the closing brace, for an object that other members continue)."""
    parts = []
    for index, (key, value) in enumerate(pairs):
        parts.append(f"'{'{' if index == 0 else ','}\"{key}\":'")
        parts.append(value)
    if closed:
        parts.append("'}'")
    return " || ".join(parts)


@cache
def member_json(tz_name: str) -> str:
    """The SQL expression of member row ``m`` as MemberSerializer's JSON, datetimes in the time
    zone ``tz_name`` (an IANA name PostgreSQL knows, as Django's are)."""
    tz = tz_name
    # A tag's own part of its JSON ({"id":..,"name":..,"group":..) comes from a
    # lookup of the tag that PostgreSQL memoizes by tag id (OFFSET 0 keeps it a lookup of its
    # own), so it is built once per tag and statement, not once per member carrying it.
    tag_part = _object(
        [("id", _number("t.id")), ("name", _string("t.name")), ("group", _number("t.group_id"))],
        closed=False,
    )
    tag = (
        f"tg.part || ',\"source\":' || {_string('mt.source')}"
        f" || ',\"tagged_at\":' || {_datetime('mt.created_at', tz)} || '}}'"
    )
    tags = (
        f"COALESCE((SELECT '[' || string_agg({tag}, ',' ORDER BY mt.id) || ']'"
        f" FROM {MemberTag._meta.db_table} mt CROSS JOIN LATERAL (SELECT {tag_part} AS part"
        f" FROM {Tag._meta.db_table} t WHERE t.id = mt.tag_id OFFSET 0) tg"
        " WHERE mt.member_id = m.id), '[]')"
    )
    # Channels in code point order, as the serializer's sorted dict (COLLATE "C").
    consents = (
        "COALESCE((SELECT '{' || string_agg(to_json(c.channel)::text || ':' ||"
        " to_json(c.status)::text, ',' ORDER BY c.channel COLLATE \"C\") || '}'"
        f" FROM {Consent._meta.db_table} c WHERE c.member_id = m.id), '{{}}')"
    )
    store = f"(SELECT s.code FROM {Store._meta.db_table} s WHERE s.id = m.home_store_id)"
    tier = f"(SELECT t.code FROM {Tier._meta.db_table} t WHERE t.id = m.tier_id)"
    return _object(
        [
            ("id", _number("m.id")),
            ("name", _string("m.name")),
            ("gender", _string("m.gender")),
            ("birthday", _string("m.birthday")),
            ("province", _string("m.province")),
            ("city", _string("m.city")),
            ("phone", _string("m.phone")),
            ("unionid", _string("m.unionid")),
            ("openid", _string("m.openid")),
            ("wecom_external_userid", _string("m.wecom_external_userid")),
            ("email", _string("m.email")),
            ("source", _string("m.source")),
            ("home_store", _string(store)),
            ("guide", _number("m.guide_id")),
            ("tier", _string(tier)),
            ("status", _string("m.status")),
            ("points_balance", _number("m.points_balance")),
            ("order_count", _number("m.order_count")),
            ("total_paid", _decimal("m.total_paid")),
            ("total_margin", _decimal("m.total_margin")),
            ("first_purchase_at", _datetime("m.first_purchase_at", tz)),
            ("last_purchase_at", _datetime("m.last_purchase_at", tz)),
            ("tags", tags),
            ("consents", consents),
            ("created_at", _datetime("m.created_at", tz)),
            ("updated_at", _datetime("m.updated_at", tz)),
        ]
    )
