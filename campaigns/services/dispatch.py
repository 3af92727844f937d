"""The dispatcher: claim due touchpoints, apply the guardrails, send, record the outcome.

Guardrails are enforced here, at send time, whatever the campaign says: the member must still
be active and reachable on the channel, have consent for it (marketing), be under the
frequency caps, and it must not be quiet hours (the touchpoint is deferred, never dropped).

Claims are one UPDATE … RETURNING over due rows (FOR UPDATE SKIP LOCKED on PostgreSQL), so two
workers never take the same row; a worker that dies leaves rows in "sending", which the sweep
hands back after SCRM_DISPATCH_CLAIM_TIMEOUT. The outcome of a batch is written in one
statement per state. A batch is hundreds of rows: the per-row Python work is a dict lookup and
a template join.

Channels are called in chunks paced by their rate limit (campaigns.ratelimit). A worker waits
for its channel's next window, but only for a third of the claim timeout after it claimed the
batch: what it has not started by then goes back to the queue untouched (not a retry), so a
worker held up by a slow or busy channel never keeps rows long enough for the sweep to hand
them to a second worker (docs/channels.md, "Rate limits").
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns import ratelimit
from campaigns.channels import Channel, Message, Outcome, Result, channel_get
from campaigns.content import CompiledTemplate, app_variable_values
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Content,
    SkipReason,
    Touchpoint,
    TouchpointState,
)
from campaigns.services.schedule import quiet_until
from members.choices import ConsentStatus, MemberStatus
from members.models import Consent, Coupon, CouponTemplate, Guide, Member, Store
from members.services.benefits import coupons_issue_keyed

logger = logging.getLogger(__name__)

DUE_STATES = (TouchpointState.PENDING, TouchpointState.DEFERRED)
# At most this many messages per send_batch call, so the deadline is looked at between chunks
# even on channels without a rate limit.
SEND_CHUNK = 100


def db_datetime(value: datetime):
    """A datetime as the database stores it, for raw SQL parameters (SQLite keeps UTC text;
    the ORM converts its own parameters, raw statements must do it here)."""
    return connection.ops.adapt_datetimefield_value(value)


def touchpoints_claim(
    *, limit: int, now: datetime | None = None, after: tuple | None = None
) -> tuple[list[int], tuple | None]:
    """Atomically take up to ``limit`` due touchpoints for this worker (state "sending").

    Returns their ids and the (send_after, id) position of the last one: pass it back as
    ``after`` to continue from there on the next call."""
    now = now or timezone.now()
    table = Touchpoint._meta.db_table
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    where, params = "", []
    if after is not None:
        where, params = " AND (send_after, id) > (%s, %s)", [db_datetime(after[0]), after[1]]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, claimed_at = %s, attempts = attempts + 1 "  # noqa: S608
            f"WHERE id IN (SELECT id FROM {table} WHERE state IN (%s, %s) AND send_after <= %s"
            f"{where} ORDER BY send_after, id LIMIT %s{lock}) RETURNING id, send_after",
            (
                TouchpointState.SENDING,
                db_datetime(now),
                *DUE_STATES,
                db_datetime(now),
                *params,
                limit,
            ),
        )
        rows = cursor.fetchall()
    if not rows:
        return [], None
    last = max(rows, key=lambda row: (_aware(row[1]), row[0]))
    return [row[0] for row in rows], (_aware(last[1]), last[0])


def touchpoints_claim_ids(*, ids: list[int], now: datetime | None = None) -> list[int]:
    """Atomically take those of ``ids`` that are still due (a welcome message sent at once):
    rows another worker claimed or sent meanwhile are left alone."""
    now = now or timezone.now()
    with transaction.atomic():
        claimable = Touchpoint.objects.filter(
            pk__in=ids, state__in=DUE_STATES, send_after__lte=now
        ).order_by("pk")
        if connection.vendor == "postgresql":
            claimable = claimable.select_for_update(skip_locked=True)
        taken = list(claimable.values_list("pk", flat=True))
        Touchpoint.objects.filter(pk__in=taken, state__in=DUE_STATES).update(
            state=TouchpointState.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return taken


def touchpoints_send_now(*, ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Claim and send the given due touchpoints straight away (the priority queue's work);
    what is no longer due or already taken is left to the dispatcher."""
    taken = touchpoints_claim_ids(ids=ids, now=now)
    return touchpoints_send(ids=taken, now=now) if taken else {}


def _aware(value):
    # SQLite hands raw RETURNING timestamps back as text; PostgreSQL as aware datetimes.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def touchpoints_reclaim_stale(*, now: datetime | None = None) -> int:
    """Hand rows claimed by a worker that died back to the queue. The provider may have seen
    the message already; the touchpoint key sent with it lets providers drop the repeat."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SCRM_DISPATCH_CLAIM_TIMEOUT)
    return Touchpoint.objects.filter(state=TouchpointState.SENDING, claimed_at__lt=cutoff).update(
        state=TouchpointState.PENDING, claimed_at=None
    )


class _Caps:
    """Frequency caps for a batch: sends per member in rolling windows, across all channels
    (one contact budget) and per channel; counts include what this batch sends."""

    def __init__(self, member_ids: list[int], now: datetime):
        self.overall = [(n, timedelta(days=d)) for n, d in settings.SCRM_FREQUENCY_CAPS["all"]]
        self.per_channel = {
            channel: [(n, timedelta(days=d)) for n, d in caps]
            for channel, caps in settings.SCRM_FREQUENCY_CAPS.get("channels", {}).items()
        }
        longest = max(
            [w for _n, w in self.overall]
            + [w for caps in self.per_channel.values() for _n, w in caps]
            + [timedelta(0)]
        )
        self.now = now
        self.sent: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
        if longest and (self.overall or self.per_channel):
            # Transactional campaigns are few: filtered here rather than joined per row.
            service = set(Campaign.objects.filter(transactional=True).values_list("pk", flat=True))
            match, params = ids_match("member_id", member_ids)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT member_id, channel, sent_at, campaign_id FROM {_table()}"  # noqa: S608
                    f" WHERE {match} AND state = %s AND sent_at >= %s",
                    [*params, TouchpointState.SENT, db_datetime(now - longest)],
                )
                for member_id, channel, sent_at, campaign_id in cursor.fetchall():
                    if campaign_id not in service:
                        self.sent[member_id].append((channel, _aware(sent_at)))

    def allows(self, member_id: int, channel: str) -> bool:
        history = self.sent.get(member_id, ())
        for limit, window in self.overall:
            since = self.now - window
            if sum(1 for _c, at in history if at >= since) >= limit:
                return False
        for limit, window in self.per_channel.get(channel, ()):
            since = self.now - window
            if sum(1 for c, at in history if c == channel and at >= since) >= limit:
                return False
        return True

    def record(self, member_id: int, channel: str) -> None:
        self.sent[member_id].append((channel, self.now))


def ids_match(column: str, ids) -> tuple[str, list]:
    """SQL matching ``column`` against ``ids``: one array parameter on PostgreSQL (the same
    statement text for any batch, and no thousands of placeholders to build and parse), an IN
    list elsewhere."""
    ids = list(ids)
    if not ids:
        return "1 = 0", []
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [ids]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", ids


def _table() -> str:
    return Touchpoint._meta.db_table


# What sending needs of each claimed touchpoint and its member, named as the rows are used.
_ROW_COLUMNS = (
    ("id", "t.id"),
    ("key", "t.key"),
    ("campaign_id", "t.campaign_id"),
    ("step_id", "t.step_id"),
    ("variant_id", "t.variant_id"),
    ("member_id", "t.member_id"),
    ("channel", "t.channel"),
    ("attempts", "t.attempts"),
    ("coupon__code", "c.code"),
    ("member__name", "m.name"),
    ("member__status", "m.status"),
    ("member__phone", "m.phone"),
    ("member__openid", "m.openid"),
    ("member__unionid", "m.unionid"),
    ("member__wecom_external_userid", "m.wecom_external_userid"),
    ("member__email", "m.email"),
    ("member__guide_id", "m.guide_id"),
    ("member__home_store_id", "m.home_store_id"),
)


def _rows(ids: list[int]) -> list[dict]:
    """The claimed touchpoints with what sending needs about their members, in one query."""
    match, params = ids_match("t.id", ids)
    names = [name for name, _column in _ROW_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(column for _name, column in _ROW_COLUMNS)}"  # noqa: S608
            f" FROM {_table()} t JOIN {Member._meta.db_table} m ON m.id = t.member_id"
            f" LEFT JOIN {Coupon._meta.db_table} c ON c.id = t.coupon_id"
            f" WHERE {match} ORDER BY t.id",
            params,
        )
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _names(model, ids) -> dict[int, str]:
    ids = {pk for pk in ids if pk}
    return dict(model.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


def _guides(ids) -> dict[int, tuple[str, bool]]:
    """(name, active) of the guides ``ids``."""
    ids = {pk for pk in ids if pk}
    if not ids:
        return {}
    rows = Guide.objects.filter(pk__in=ids).values_list("pk", "name", "is_active")
    return {pk: (name, active) for pk, name, active in rows}


def _field_templates(options: dict) -> dict[str, CompiledTemplate]:
    fields = options.get("fields") if isinstance(options, dict) else None
    if not isinstance(fields, dict):
        return {}
    return {str(name): CompiledTemplate(str(text)) for name, text in fields.items()}


def _attach_coupons(to_send: dict, campaigns: dict, outcome: dict) -> None:
    """Issue the coupon each message offers, before it is rendered: one per touchpoint, keyed
    by the touchpoint (a resend quotes the same code). Members the stock cannot serve are
    skipped ("no coupon left") rather than sent a message without its code."""
    wanted: dict[int, dict[str, int]] = defaultdict(dict)  # template -> {key: member}
    for items in to_send.values():
        for row, _address in items:
            template_id = campaigns[row["campaign_id"]].coupon_template_id
            if template_id and not row["coupon__code"]:
                wanted[template_id][row["key"]] = row["member_id"]
    if not wanted:
        return
    codes: dict[str, str] = {}
    for template in CouponTemplate.objects.filter(pk__in=list(wanted)):
        codes.update(coupons_issue_keyed(template=template, members_by_key=wanted[template.pk]))
    linked = []
    for channel_code, items in to_send.items():
        kept = []
        for row, address in items:
            if not campaigns[row["campaign_id"]].coupon_template_id or row["coupon__code"]:
                kept.append((row, address))
            elif row["key"] in codes:
                row["coupon__code"] = codes[row["key"]]
                linked.append(row["id"])
                kept.append((row, address))
            else:
                outcome["skip"].append((SkipReason.NO_COUPON, row["id"]))
        to_send[channel_code] = kept
    if linked:
        coupon_ids = dict(
            Coupon.objects.filter(issue_key__in=list(codes)).values_list("issue_key", "pk")
        )
        keys = {row["id"]: row["key"] for items in to_send.values() for row, _a in items}
        Touchpoint.objects.bulk_update(
            [Touchpoint(pk=pk, coupon_id=coupon_ids[keys[pk]]) for pk in linked],
            ["coupon"],
            batch_size=1000,
        )


def send_paced(channel: Channel, messages: list[Message], deadline: float) -> list:
    """Call the channel in chunks its rate limit allows, waiting for the next window while the
    deadline lets us; returns a Result per message, None for those not started in time."""
    limit = ratelimit.channel_rate(channel.code)
    results: list = []
    position = 0
    while position < len(messages):
        if ratelimit.clock() >= deadline:
            break
        want = min(len(messages) - position, SEND_CHUNK)
        granted = (
            ratelimit.rate_acquire(key=channel.code, limit=limit, want=want) if limit else want
        )
        if not granted:
            wait = ratelimit.rate_wait()
            if ratelimit.clock() + wait >= deadline:
                break
            ratelimit.sleep(wait)
            continue
        chunk = messages[position : position + granted]
        try:
            chunk_results = channel.send_batch(chunk)
            if len(chunk_results) != len(chunk):
                raise ValueError(f"{len(chunk_results)} results for {len(chunk)} messages")
        except Exception as exc:  # an adapter bug must not strand the batch in "sending"
            logger.exception("channel %s failed on a batch", channel.code)
            chunk_results = [Result(Outcome.RETRY, reason=f"{type(exc).__name__}: {exc}")] * len(
                chunk
            )
        results.extend(chunk_results)
        position += granted
    return results + [None] * (len(messages) - position)


def touchpoints_send(*, ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Send the claimed touchpoints ``ids`` and record each outcome; returns counts by state."""
    deadline = ratelimit.clock() + settings.SCRM_DISPATCH_CLAIM_TIMEOUT / 3
    now = now or timezone.now()
    rows = _rows(ids)
    if not rows:
        return {}
    campaigns = {c.pk: c for c in Campaign.objects.filter(pk__in={r["campaign_id"] for r in rows})}
    contents = {
        (c.step_id, c.variant_id): c
        for c in Content.objects.filter(step_id__in={r["step_id"] for r in rows})
    }
    templates: dict[tuple[int, int], tuple[CompiledTemplate, CompiledTemplate, dict]] = {}
    member_ids = [r["member_id"] for r in rows]
    match, params = ids_match("member_id", member_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT member_id, channel FROM {Consent._meta.db_table}"  # noqa: S608
            f" WHERE {match} AND status = %s",
            [*params, ConsentStatus.GRANTED],
        )
        consents = set(cursor.fetchall())
    caps = _Caps(member_ids, now)
    guides = _guides(r["member__guide_id"] for r in rows)
    stores = _names(Store, (r["member__home_store_id"] for r in rows))
    quiet_end = quiet_until(now)

    outcome: dict[str, list[tuple]] = defaultdict(list)  # state -> update rows
    to_send: dict[str, list[tuple[dict, Message]]] = defaultdict(list)
    for row in rows:
        campaign = campaigns[row["campaign_id"]]
        channel = channel_get(row["channel"])
        if campaign.status == CampaignStatus.CANCELLED:
            outcome["skip"].append((SkipReason.CAMPAIGN_STOPPED, row["id"]))
            continue
        if campaign.status == CampaignStatus.PAUSED:
            # Paused: back to the queue, looked at again in a few minutes.
            outcome["defer"].append((now + timedelta(minutes=5), row["id"]))
            continue
        if row["member__status"] != MemberStatus.ACTIVE:
            outcome["skip"].append((SkipReason.INACTIVE, row["id"]))
            continue
        if channel is None:
            outcome["failed"].append(("unknown channel", row["id"]))
            continue
        address = (
            row["member_id"]
            if channel.address_column == "id"
            else row.get(f"member__{channel.address_column}")
        )
        if not address:
            outcome["skip"].append((SkipReason.NO_IDENTITY, row["id"]))
            continue
        if channel.requires_guide and not guides.get(row["member__guide_id"], ("", False))[1]:
            # Sent through the owning guide: without an active one, nobody can send it.
            outcome["skip"].append((SkipReason.NO_IDENTITY, row["id"]))
            continue
        if (
            not campaign.transactional
            and channel.consent
            and (row["member_id"], channel.consent) not in consents
        ):
            outcome["skip"].append((SkipReason.NO_CONSENT, row["id"]))
            continue
        if not campaign.transactional and quiet_end is not None:
            outcome["defer"].append((quiet_end, row["id"]))
            continue
        if not campaign.transactional and not caps.allows(row["member_id"], row["channel"]):
            outcome["skip"].append((SkipReason.FREQUENCY_CAP, row["id"]))
            continue
        caps.record(row["member_id"], row["channel"])
        pair = (row["step_id"], row["variant_id"])
        if pair not in templates:
            content = contents[pair]
            templates[pair] = (
                CompiledTemplate(content.subject),
                CompiledTemplate(content.body),
                _field_templates(content.options),
            )
        to_send[row["channel"]].append((row, address))

    _attach_coupons(to_send, campaigns, outcome)

    for channel_code, items in to_send.items():
        channel = channel_get(channel_code)
        names = set()
        for row, _address in items:
            subject, body, fields = templates[(row["step_id"], row["variant_id"])]
            names.update(subject.variables, body.variables)
            for field_template in fields.values():
                names.update(field_template.variables)
        extra = app_variable_values(sorted(names), [row["member_id"] for row, _a in items])
        messages = []
        for row, address in items:
            subject, body, fields = templates[(row["step_id"], row["variant_id"])]
            values = {
                "member_name": row["member__name"],
                "guide_name": guides.get(row["member__guide_id"], ("", False))[0],
                "store_name": stores.get(row["member__home_store_id"], ""),
                "coupon_code": row["coupon__code"] or "",
            }
            for name, by_member in extra.items():
                values[name] = by_member.get(row["member_id"], "")
            content = contents[(row["step_id"], row["variant_id"])]
            messages.append(
                Message(
                    key=row["key"],
                    member_id=row["member_id"],
                    address=str(address),
                    subject=subject.render(values),
                    body=body.render(values),
                    options=content.options,
                    guide_id=row["member__guide_id"],
                    fields={name: t.render(values) for name, t in fields.items()},
                )
            )
        results = send_paced(channel, messages, deadline)
        for (row, _address), result in zip(items, results, strict=True):
            if result is None:
                outcome["release"].append(row["id"])
            elif result.outcome == Outcome.SENT:
                outcome["sent"].append((result.provider_id[:100], row["id"]))
            elif result.outcome == Outcome.RETRY:
                outcome["retry"].append((result.reason[:300], row))
            elif result.outcome == Outcome.SKIPPED:
                known = result.reason in SkipReason.values
                outcome["skip"].append(
                    (result.reason if known else SkipReason.NO_IDENTITY, row["id"])
                )
            else:
                outcome["failed"].append((result.reason[:300], row["id"]))
    return _record(outcome, now)


# Outcome updates: column assignments and the PostgreSQL array types of their values.
_UPDATES = {
    "sent": (
        "state = 'sent', sent_at = %s, provider_id = v.a, error = '', claimed_at = NULL",
        ("text",),
    ),
    "skip": ("state = 'skipped', skip_reason = v.a, claimed_at = NULL", ("text",)),
    "defer": (
        "state = 'deferred', send_after = v.a, claimed_at = NULL, attempts = t.attempts - 1",
        ("timestamptz",),
    ),
    "retry": (
        "state = 'pending', send_after = v.a, error = v.b, claimed_at = NULL",
        ("timestamptz", "text"),
    ),
    "failed": ("state = 'failed', error = v.a, claimed_at = NULL", ("text",)),
    # Not started before the deadline (rate limit): due again at once, this claim not counted
    # as an attempt.
    "release": ("state = 'pending', claimed_at = NULL, attempts = t.attempts - 1", ()),
}
_COUNT_NAMES = {
    "sent": "sent",
    "skip": "skipped",
    "defer": "deferred",
    "release": "released",
    "retry": "retry",
    "failed": "failed",
}


def _update(cursor, kind: str, rows: list[tuple], now: datetime) -> None:
    """Apply one outcome to ``rows`` = [(value, ..., id), ...]: one statement on PostgreSQL
    (UPDATE … FROM unnest of arrays), executemany elsewhere."""
    table = Touchpoint._meta.db_table
    assignments, types = _UPDATES[kind]
    head = [db_datetime(now)] if "%s" in assignments else []
    if connection.vendor == "postgresql":
        names = ["a", "b"][: len(types)]
        arrays = "".join(f"%s::{t}[], " for t in types)
        columns = list(zip(*rows, strict=True))
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments.replace('t.attempts', 'attempts')} "  # noqa: S608
            f"FROM unnest({arrays}%s::bigint[]) AS v({''.join(n + ', ' for n in names)}id) "
            "WHERE t.id = v.id",
            [*head, *[list(c) for c in columns[:-1]], list(columns[-1])],
        )
        return
    simple = assignments.replace("v.a", "%s").replace("v.b", "%s").replace("t.attempts", "attempts")
    cursor.executemany(
        f"UPDATE {table} SET {simple} WHERE id = %s",  # noqa: S608
        [(*head, *row) for row in rows],
    )


def _record(outcome: dict[str, list[tuple]], now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    max_attempts = settings.SCRM_DISPATCH_MAX_ATTEMPTS
    failed = list(outcome["failed"])
    retry = []
    for reason, row in outcome["retry"]:
        if row["attempts"] >= max_attempts:
            failed.append((reason, row["id"]))
        else:
            # Exponential backoff: 1, 2, 4, 8 … minutes.
            delay = timedelta(minutes=2 ** (row["attempts"] - 1))
            retry.append((db_datetime(now + delay), reason, row["id"]))
    batches = {
        "sent": outcome["sent"],
        "skip": outcome["skip"],
        "defer": [(db_datetime(at), pk) for at, pk in outcome["defer"]],
        "retry": retry,
        "failed": failed,
        "release": [(pk,) for pk in outcome["release"]],
    }
    with transaction.atomic(), connection.cursor() as cursor:
        for kind, rows in batches.items():
            if rows:
                _update(cursor, kind, rows, now)
                counts[_COUNT_NAMES[kind]] = len(rows)
    return counts


def dispatch_batch(
    *, limit: int | None = None, now: datetime | None = None, after: tuple | None = None
) -> tuple[int, tuple | None]:
    """Claim one batch of due touchpoints (from position ``after``) and send it; returns how
    many were claimed and the position to continue from."""
    ids, position = touchpoints_claim(
        limit=limit or settings.SCRM_DISPATCH_BATCH, now=now, after=after
    )
    if ids:
        touchpoints_send(ids=ids, now=now)
    return len(ids), position


def dispatch_once(*, limit: int | None = None, now: datetime | None = None) -> int:
    """Claim one batch of due touchpoints and send it; returns how many were claimed."""
    return dispatch_batch(limit=limit, now=now)[0]


def dispatch_until_done(*, now: datetime | None = None, budget_seconds: float = 50.0) -> int:
    """Send batch after batch, walking due rows by position, then once more from the start
    (retries and deferrals fall due behind the position); returns how many were claimed."""
    import time

    started = time.monotonic()
    total, position = 0, None
    while time.monotonic() - started < budget_seconds:
        claimed, next_position = dispatch_batch(now=now, after=position)
        total += claimed
        if claimed:
            position = next_position
        elif position is not None:
            position = None  # one pass from the start before giving up
        else:
            break
    return total


def due_count(*, now: datetime | None = None) -> int:
    """How many touchpoints are due now (tells the tick whether to start dispatchers)."""
    now = now or timezone.now()
    return Touchpoint.objects.filter(state__in=DUE_STATES, send_after__lte=now)[:1].count()


def member_touchpoints_stop(*, member_ids: list[int]) -> int:
    """Drop the unsent touchpoints of these members (erasure): nothing further is sent to
    them."""
    return Touchpoint.objects.filter(
        member_id__in=member_ids, state__in=[*DUE_STATES, TouchpointState.SENDING]
    ).delete()[0]
