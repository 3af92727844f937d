"""The dispatcher: claim due touchpoints, apply the guardrails, send, record the outcome.

Guardrails are enforced here, at send time, whatever the campaign says: the member must still
be active and reachable on the channel, have consent for it (marketing), be under the
frequency caps, and it must not be quiet hours (the touchpoint is deferred, never dropped).

Claims are campaigns.services.claims: one statement takes a batch and returns what sending
needs of each row and its member (a HOT update on PostgreSQL). The outcome is written in one
statement per state and value. Per-row Python work is a few tuple and dict lookups, a string
format and the channel's Message.

Channels are called in chunks paced by their rate limit (campaigns.ratelimit). A worker waits
for its channel's next window, but only for a third of the claim timeout after it claimed the
batch: what it has not started by then goes back to the queue untouched (not a retry), so a
worker held up by a slow or busy channel never keeps rows long enough for a second worker to
take them over (docs/channels.md, "Rate limits").
"""

from __future__ import annotations

import gc
import logging
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
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
from campaigns.services.claims import (
    ADDRESS_AT,
    DUE_STATES,
    R_ATTEMPTS,
    R_CAMPAIGN,
    R_CHANNEL,
    R_COUPON,
    R_GUIDE,
    R_ID,
    R_KEY,
    R_MEMBER,
    R_NAME,
    R_STATUS,
    R_STEP,
    R_STORE,
    R_VARIANT,
    aware,
    claim_rows,
    db_datetime,
    due_count,
    ids_match,
    int_array,
    member_touchpoints_stop,
    outbox_table,
    touchpoint_rows,
    touchpoints_claim,
    touchpoints_claim_ids,
    touchpoints_reclaim_stale,
)
from campaigns.services.schedule import quiet_until
from members.choices import ConsentStatus, MemberStatus
from members.models import Consent, Coupon, CouponTemplate, Guide, Store
from members.services.benefits import coupons_issue_keyed

# Claiming lives in campaigns.services.claims; these names are also this module's.
__all__ = [
    "DUE_STATES",
    "db_datetime",
    "dispatch_batch",
    "dispatch_once",
    "dispatch_until_done",
    "due_count",
    "ids_match",
    "member_touchpoints_stop",
    "send_paced",
    "touchpoints_claim",
    "touchpoints_claim_ids",
    "touchpoints_reclaim_stale",
    "touchpoints_send",
    "touchpoints_send_now",
]

logger = logging.getLogger(__name__)

# At most this many messages per send_batch call, so the deadline is looked at between chunks
# even on channels without a rate limit.
SEND_CHUNK = 100


def touchpoints_send_now(*, ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Claim and send the given due touchpoints straight away (the priority queue's work);
    what is no longer due or already taken is left to the dispatcher."""
    taken = touchpoints_claim_ids(ids=ids, now=now)
    return touchpoints_send(ids=taken, now=now) if taken else {}


# --- guardrails and content ------------------------------------------------------------------


class _Caps:
    """Frequency caps for a batch: sends per member in rolling windows, across all channels
    (one contact budget) and per channel; counts include what this batch sends. Transactional
    sends neither count nor are counted."""

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
        self.active = bool(longest) and bool(self.overall or self.per_channel)
        # A member with no recent send passes unless some cap allows no send at all.
        self.first_free = all(
            n >= 1 for n, _w in self.overall + [c for v in self.per_channel.values() for c in v]
        )
        self.now = now
        self.sent: dict[int, list[tuple[str, datetime]]] = {}
        if not self.active or not member_ids:
            return
        match, params = ids_match("t.member_id", member_ids)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT t.member_id, t.channel, t.sent_at FROM {outbox_table()} t"  # noqa: S608
                f" JOIN {Campaign._meta.db_table} k ON k.id = t.campaign_id"
                f" WHERE {match} AND t.state = %s AND t.sent_at >= %s AND NOT k.transactional",
                [*params, TouchpointState.SENT, db_datetime(now - longest)],
            )
            for member_id, channel, sent_at in cursor.fetchall():
                self.sent.setdefault(member_id, []).append((channel, aware(sent_at)))

    def allows(self, member_id: int, channel: str) -> bool:
        history = self.sent.get(member_id)
        if not history:
            return self.first_free
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
        history = self.sent.get(member_id)
        if history is None:
            self.sent[member_id] = [(channel, self.now)]
        else:
            history.append((channel, self.now))


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


class _Values(dict):
    """Template values: a variable nothing filled renders empty."""

    def __missing__(self, key):
        return ""


def _formatter(template: CompiledTemplate):
    """``template`` as a function of the values dict: a str.format_map (one C call per member)
    of a format string made once from its parts."""
    if not template.variables:
        text = "".join(part for _is_var, part in template.parts)
        return lambda _values: text
    return "".join(
        "{" + part + "}" if is_var else part.replace("{", "{{").replace("}", "}}")
        for is_var, part in template.parts
    ).format_map


class _Compiled:
    """One content (step, variant) ready to render: subject, body, option fields."""

    def __init__(self, content: Content):
        subject, body = CompiledTemplate(content.subject), CompiledTemplate(content.body)
        fields = content.options.get("fields") if isinstance(content.options, dict) else None
        fields = fields if isinstance(fields, dict) else {}
        field_templates = {str(name): CompiledTemplate(str(text)) for name, text in fields.items()}
        self.options = content.options
        self.subject = _formatter(subject)
        self.body = _formatter(body)
        self.fields = {name: _formatter(t) for name, t in field_templates.items()}
        self.variables = set(subject.variables) | set(body.variables)
        for template in field_templates.values():
            self.variables.update(template.variables)


def _attach_coupons(send: list[tuple], campaign: Campaign, codes: dict, outcome: dict) -> list:
    """Issue the coupon each message offers, before it is rendered: one per touchpoint, keyed
    by the touchpoint (a resend quotes the same code), committed before anything is sent.
    Members the stock cannot serve are skipped ("no coupon left") rather than sent a message
    without its code. ``codes`` gets {row id: code}; returns the rows still to send."""
    if not campaign.coupon_template_id:
        return send
    wanted = {row[R_KEY]: row[R_MEMBER] for row in send if not row[R_COUPON]}
    if not wanted:
        return send
    template = CouponTemplate.objects.filter(pk=campaign.coupon_template_id).first()
    issued = coupons_issue_keyed(template=template, members_by_key=wanted) if template else {}
    kept, linked = [], []
    for row in send:
        if row[R_COUPON]:
            kept.append(row)
        elif row[R_KEY] in issued:
            codes[row[R_ID]] = issued[row[R_KEY]]
            linked.append(row)
            kept.append(row)
        else:
            outcome["skip"].append((SkipReason.NO_COUPON, row[R_ID]))
    if linked:
        coupon_ids = dict(
            Coupon.objects.filter(issue_key__in=[row[R_KEY] for row in linked]).values_list(
                "issue_key", "pk"
            )
        )
        Touchpoint.objects.bulk_update(
            [Touchpoint(pk=row[R_ID], coupon_id=coupon_ids[row[R_KEY]]) for row in linked],
            ["coupon"],
            batch_size=1000,
        )
    return kept


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
        except Exception as exc:  # an adapter bug must not strand the batch claimed
            logger.exception("channel %s failed on a batch", channel.code)
            chunk_results = [Result(Outcome.RETRY, reason=f"{type(exc).__name__}: {exc}")] * len(
                chunk
            )
        results.extend(chunk_results)
        position += granted
    return results + [None] * (len(messages) - position)


# --- sending ---------------------------------------------------------------------------------


@contextmanager
def _collector_paused():
    """Python's cycle collector, triggered by allocation counts, would walk a batch's
    thousands of new rows, dicts and messages again and again (and now and then every object of
    the process): a third of the batch's Python time. Nothing a batch makes forms a reference
    cycle (reference counting frees it all when the batch ends), so collection waits until
    then."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def touchpoints_send(*, ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Send the claimed touchpoints ``ids`` and record each outcome; returns counts by state."""
    deadline = ratelimit.clock() + settings.SCRM_DISPATCH_CLAIM_TIMEOUT / 3
    with _collector_paused():
        return _send(touchpoint_rows(ids), now or timezone.now(), deadline)


def _send(rows: list[tuple], now: datetime, deadline: float) -> dict[str, int]:
    """Apply the guardrails to claimed ``rows``, send what passes, record every outcome."""
    if not rows:
        return {}
    campaigns = {c.pk: c for c in Campaign.objects.filter(pk__in={r[R_CAMPAIGN] for r in rows})}
    contents = {
        (c.step_id, c.variant_id): c
        for c in Content.objects.filter(step_id__in={r[R_STEP] for r in rows})
    }
    outcome: dict[str, list[tuple]] = defaultdict(list)  # state -> update rows
    # Rows of one campaign and channel are judged together: the campaign's status, whether it
    # is marketing, quiet hours and the channel's needs are the same for all of them.
    groups: dict[tuple[int, str], list[tuple]] = defaultdict(list)
    for row in rows:
        groups[(row[R_CAMPAIGN], row[R_CHANNEL])].append(row)
    live = {}
    for (campaign_id, code), items in groups.items():
        campaign = campaigns.get(campaign_id)
        if campaign is None or campaign.status == CampaignStatus.CANCELLED:
            outcome["skip"].extend((SkipReason.CAMPAIGN_STOPPED, row[R_ID]) for row in items)
        elif campaign.status == CampaignStatus.PAUSED:
            # Paused: back to the queue, looked at again in a few minutes.
            later = now + timedelta(minutes=5)
            outcome["defer"].extend((later, row[R_ID]) for row in items)
        else:
            live[(campaign_id, code)] = (campaign, channel_get(code), items)
    if not live:
        return _record(outcome, now)

    compiled = {pair: _Compiled(content) for pair, content in contents.items()}
    variables = set().union(*(c.variables for c in compiled.values()))
    quiet_end = quiet_until(now)
    marketing = [(c, ch, items) for c, ch, items in live.values() if not c.transactional]
    consent_members = {
        r[R_MEMBER] for _c, ch, items in marketing if ch is not None and ch.consent for r in items
    }
    consents: set = set()
    if consent_members:
        match, params = ids_match("member_id", consent_members)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT member_id, channel FROM {Consent._meta.db_table}"  # noqa: S608
                f" WHERE {match} AND status = %s",
                [*params, ConsentStatus.GRANTED],
            )
            consents = set(cursor.fetchall())
    capped = (
        []
        if quiet_end is not None
        else [r[R_MEMBER] for _c, _ch, items in marketing for r in items]
    )
    caps = _Caps(capped, now)
    needs_guides = "guide_name" in variables or any(
        ch is not None and ch.requires_guide for _c, ch, _i in live.values()
    )
    guides = _guides({r[R_GUIDE] for r in rows}) if needs_guides else {}
    stores = _names(Store, {r[R_STORE] for r in rows}) if "store_name" in variables else {}

    active = MemberStatus.ACTIVE
    skip, failed, defer = outcome["skip"], outcome["failed"], outcome["defer"]
    codes: dict[int, str] = {}
    sending: list[tuple[Channel, list[tuple], list]] = []
    for (_campaign_id, code), (campaign, channel, items) in live.items():
        if channel is None:
            for row in items:
                if row[R_STATUS] != active:
                    skip.append((SkipReason.INACTIVE, row[R_ID]))
                else:
                    failed.append(("unknown channel", row[R_ID]))
            continue
        is_marketing = not campaign.transactional
        address_at = ADDRESS_AT.get(channel.address_column)
        consent = channel.consent if is_marketing else None
        guided = channel.requires_guide
        quiet = is_marketing and quiet_end is not None
        check_caps = is_marketing and caps.active
        send, addresses = [], []
        for row in items:
            row_id = row[R_ID]
            if row[R_STATUS] != active:
                skip.append((SkipReason.INACTIVE, row_id))
                continue
            address = row[address_at] if address_at is not None else None
            if not address:
                skip.append((SkipReason.NO_IDENTITY, row_id))
                continue
            if guided and not guides.get(row[R_GUIDE], ("", False))[1]:
                # Sent through the owning guide: without an active one, nobody can send it.
                skip.append((SkipReason.NO_IDENTITY, row_id))
                continue
            if consent and (row[R_MEMBER], consent) not in consents:
                skip.append((SkipReason.NO_CONSENT, row_id))
                continue
            if quiet:
                defer.append((quiet_end, row_id))
                continue
            if check_caps:
                if not caps.allows(row[R_MEMBER], code):
                    skip.append((SkipReason.FREQUENCY_CAP, row_id))
                    continue
                caps.record(row[R_MEMBER], code)
            send.append(row)
            addresses.append(address)
        if send:
            by_row = dict(zip((r[R_ID] for r in send), addresses, strict=True))
            send = _attach_coupons(send, campaign, codes, outcome)
            sending.append((channel, send, [by_row[r[R_ID]] for r in send]))

    for channel, send, addresses in sending:
        extra = app_variable_values(sorted(variables), [r[R_MEMBER] for r in send])
        messages = []
        for row, address in zip(send, addresses, strict=True):
            content = compiled[(row[R_STEP], row[R_VARIANT])]
            values = _Values()
            if "member_name" in variables:
                values["member_name"] = row[R_NAME] or ""
            if "guide_name" in variables:
                values["guide_name"] = guides.get(row[R_GUIDE], ("", False))[0] or ""
            if "store_name" in variables:
                values["store_name"] = stores.get(row[R_STORE]) or ""
            if "coupon_code" in variables:
                values["coupon_code"] = row[R_COUPON] or codes.get(row[R_ID]) or ""
            for name, by_member in extra.items():
                values[name] = by_member.get(row[R_MEMBER]) or ""
            messages.append(
                Message(
                    key=row[R_KEY],
                    member_id=row[R_MEMBER],
                    address=str(address),
                    subject=content.subject(values),
                    body=content.body(values),
                    options=content.options,
                    guide_id=row[R_GUIDE],
                    fields={name: render(values) for name, render in content.fields.items()},
                )
            )
        results = send_paced(channel, messages, deadline)
        sent = outcome["sent"]
        for row, result in zip(send, results, strict=True):
            if result is None:
                outcome["release"].append(row[R_ID])
            elif result.outcome == Outcome.SENT:
                sent.append((result.provider_id[:100], row[R_ID]))
            elif result.outcome == Outcome.RETRY:
                outcome["retry"].append((result.reason[:300], row))
            elif result.outcome == Outcome.SKIPPED:
                known = result.reason in SkipReason.values
                skip.append((result.reason if known else SkipReason.NO_IDENTITY, row[R_ID]))
            else:
                failed.append((result.reason[:300], row[R_ID]))
    return _record(outcome, now)


# --- recording -------------------------------------------------------------------------------

# Outcome updates: column assignments and the PostgreSQL array types of their values. Every
# outcome but "sent" applies only to rows still due: a row that was cancelled, left the
# journey or was sent by another worker meanwhile keeps what it became (a send is recorded
# whatever happened meanwhile: it went out).
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
    "release": ("claimed_at = NULL, attempts = t.attempts - 1", ()),
}
_COUNT_NAMES = {
    "sent": "sent",
    "skip": "skipped",
    "defer": "deferred",
    "release": "released",
    "retry": "retry",
    "failed": "failed",
}
# Outcomes with at most this many distinct values are written one statement per value with an
# id array (the usual case: every sent row has the same empty provider id, one skip reason).
_FEW_VALUES = 4


def _update(cursor, kind: str, rows: list[tuple], now: datetime) -> None:
    """Apply one outcome to ``rows`` = [(value, ..., id), ...]: on PostgreSQL one statement per
    distinct value when they are few, else one UPDATE … FROM unnest of arrays; executemany
    elsewhere."""
    table = outbox_table()
    assignments, types = _UPDATES[kind]
    head = [db_datetime(now)] if "%s" in assignments else []
    guard = "" if kind == "sent" else f" AND t.state IN ('{DUE_STATES[0]}', '{DUE_STATES[1]}')"
    if connection.vendor == "postgresql":
        by_value: dict[tuple, list[int]] = defaultdict(list)
        for row in rows:
            by_value[row[:-1]].append(row[-1])
        if len(by_value) <= _FEW_VALUES:
            for values, ids in by_value.items():
                simple = assignments.replace("v.a", "%s").replace("v.b", "%s")
                cursor.execute(
                    f"UPDATE {table} AS t SET {simple.replace('t.attempts', 'attempts')}"  # noqa: S608
                    f" WHERE t.id = ANY(%s::bigint[]){guard}",
                    [*head, *values, int_array(ids)],
                )
            return
        names = ["a", "b"][: len(types)]
        arrays = "".join(f"%s::{t}[], " for t in types)
        columns = list(zip(*rows, strict=True))
        cursor.execute(
            f"UPDATE {table} AS t SET {assignments.replace('t.attempts', 'attempts')} "  # noqa: S608
            f"FROM unnest({arrays}%s::bigint[]) AS v({''.join(n + ', ' for n in names)}id) "
            f"WHERE t.id = v.id{guard}",
            [*head, *[list(c) for c in columns[:-1]], int_array(columns[-1])],
        )
        return
    simple = assignments.replace("v.a", "%s").replace("v.b", "%s").replace("t.attempts", "attempts")
    cursor.executemany(
        f"UPDATE {table} AS t SET {simple} WHERE t.id = %s{guard}",  # noqa: S608
        [(*head, *row) for row in rows],
    )


def _record(outcome: dict[str, list[tuple]], now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    max_attempts = settings.SCRM_DISPATCH_MAX_ATTEMPTS
    failed = list(outcome["failed"])
    retry = []
    for reason, row in outcome["retry"]:
        if row[R_ATTEMPTS] >= max_attempts:
            failed.append((reason, row[R_ID]))
        else:
            # Exponential backoff: 1, 2, 4, 8 … minutes.
            delay = timedelta(minutes=2 ** (row[R_ATTEMPTS] - 1))
            retry.append((db_datetime(now + delay), reason, row[R_ID]))
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


# --- loops -----------------------------------------------------------------------------------


def dispatch_batch(
    *, limit: int | None = None, now: datetime | None = None, after: tuple | None = None
) -> tuple[int, tuple | None]:
    """Claim one batch of due touchpoints (from position ``after``) and send it; returns how
    many were claimed and the position to continue from."""
    now = now or timezone.now()
    with _collector_paused():
        rows, position = claim_rows(
            limit=limit or settings.SCRM_DISPATCH_BATCH, now=now, after=after
        )
        if rows:
            deadline = ratelimit.clock() + settings.SCRM_DISPATCH_CLAIM_TIMEOUT / 3
            _send(rows, now, deadline)
    return len(rows), position


def dispatch_once(*, limit: int | None = None, now: datetime | None = None) -> int:
    """Claim one batch of due touchpoints and send it; returns how many were claimed."""
    return dispatch_batch(limit=limit, now=now)[0]


def dispatch_until_done(*, now: datetime | None = None, budget_seconds: float = 50.0) -> int:
    """Send batch after batch, walking due rows by position, then once more from the start
    (retries, deferrals and the claims of dead workers fall due behind the position); returns
    how many were claimed."""
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
