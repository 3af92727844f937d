"""Loading demo data: reference rows through the ORM, members and their history in bulk.

Members, orders, points, coupons, tags, consents (and optionally timeline events) are generated
in chunks and written with COPY on PostgreSQL (executemany elsewhere), in one transaction, so a
failure leaves nothing behind. Purchase stats and points balances are computed while generating
and checked against the orders and the ledger at the end (demo_invariants_check).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from members.demo import data
from members.demo.generate import DemoGenerator, Reference, order_frequency_for
from members.demo.writer import BulkWriter, bulk_load, sequences_reset
from members.management.commands.setup_roles import SHOP_GUIDES, role_group
from members.models import (
    AuditLog,
    Consent,
    Coupon,
    CouponTemplate,
    Event,
    Guide,
    Member,
    MemberMerge,
    MemberTag,
    Order,
    PointsEntry,
    Store,
    Tag,
    TagGroup,
    Tier,
)

# Field order of the tuples members.demo.generate makes.
FIELDS = {
    "members": (Member, ["id", "name", "gender", "birthday", "province", "city", "phone",
                         "unionid", "openid", "wecom_external_userid", "source", "home_store",
                         "guide", "tier", "status", "first_purchase_at", "last_purchase_at",
                         "order_count", "total_paid", "total_margin", "points_balance",
                         "token_version", "created_at", "updated_at"]),
    "orders": (Order, ["id", "source", "external_id", "member", "store", "paid_amount",
                       "gross_margin", "item_count", "paid_at", "status", "refunded_at",
                       "created_at", "updated_at"]),
    "points": (PointsEntry, ["member", "kind", "delta", "balance_after", "reason", "order",
                             "expires_at", "remaining", "created_at"]),
    "coupons": (Coupon, ["template", "member", "code", "status", "issued_at", "expires_at",
                         "redeemed_order", "redeemed_at"]),
    "tags": (MemberTag, ["member", "tag", "source", "tagged_by", "created_at"]),
    "consents": (Consent, ["member", "channel", "status", "changed_at", "method"]),
    "events": (Event, ["member", "kind", "data", "occurred_at", "dispatched_at"]),
}  # fmt: skip
CHUNK = 5000


class DemoDataExists(Exception):
    """Members exist already; seeding on top of them needs reset=True."""


@dataclass
class SeedSummary:
    """What demo_seed wrote, the guide logins it made, and where the time went."""

    rows: dict[str, int] = field(default_factory=dict)
    guides: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    problems: dict[str, int] = field(default_factory=dict)


def demo_seed(
    *,
    members: int,
    seed: int = 1,
    events: bool = True,
    reset: bool = False,
    check: bool = True,
    progress: Callable[[int, int], None] | None = None,
    orders_per_member: float | None = None,
) -> SeedSummary:
    """Create ``members`` demo members with stores, guides, tiers, tags, coupon templates and
    two years of orders. The same ``seed`` gives the same data. Refuses (DemoDataExists) when
    members exist, unless ``reset`` first deletes every member and what hangs on them.

    ``orders_per_member``: the average number of orders (about 2 when not given), reached
    by making buyers come back more or less often; ValueError beyond what is possible."""
    summary = SeedSummary()
    started = time.monotonic()
    frequency = 1.0 if orders_per_member is None else order_frequency_for(orders_per_member)
    with transaction.atomic():
        if reset:
            demo_reset()
        elif Member.objects.exists():
            raise DemoDataExists(
                _("Members exist already; use --reset to replace them with demo data.")
            )
        ref, summary.guides = _reference_data(seed)
        summary.seconds["reference data"] = time.monotonic() - started
        generator = DemoGenerator(
            seed=seed,
            ref=ref,
            anchor=_anchor(),
            now=timezone.now(),
            ids=(_next_id(Member), _next_id(Order)),
            rules=(
                Decimal(str(getattr(settings, "SCRM_POINTS_PER_YUAN", 1))),
                getattr(settings, "SCRM_POINTS_VALID_DAYS", 365),
                events,
            ),
            order_frequency=frequency,
        )
        writers = {name: BulkWriter(model, fields) for name, (model, fields) in FIELDS.items()}
        generating = writing = 0.0
        t0 = time.monotonic()
        with bulk_load(*(model for model, _fields in FIELDS.values())):
            summary.seconds["dropping indexes"] = time.monotonic() - t0
            for done in range(0, members, CHUNK):
                count = min(CHUNK, members - done)
                t0 = time.monotonic()
                rows = generator.generate(count)
                t1 = time.monotonic()
                for name, writer in writers.items():
                    writer.write(getattr(rows, name))
                writing += time.monotonic() - t1
                generating += t1 - t0
                if progress is not None:
                    progress(done + count, members)
            t0 = time.monotonic()
        summary.seconds["indexes and constraints"] = time.monotonic() - t0
        summary.seconds["generating"] = generating
        summary.seconds["writing"] = writing
        t0 = time.monotonic()
        sequences_reset(Member, Order)
        _coupon_counts()
        AuditLog.objects.create(
            actor_label="seed_demo",
            action="demo.seed",
            data={
                "members": members,
                "seed": seed,
                "events": events,
                "orders_per_member": orders_per_member,
            },
        )
        summary.seconds["finishing"] = time.monotonic() - t0
        if check:
            t0 = time.monotonic()
            summary.problems = demo_invariants_check()
            summary.seconds["checking"] = time.monotonic() - t0
    summary.rows = {name: writer.count for name, writer in writers.items()}
    summary.seconds["total"] = time.monotonic() - started
    return summary


def _anchor() -> datetime:
    """Today 00:00 in the project's time zone: every generated time lies before it."""
    return timezone.make_aware(datetime.combine(timezone.localdate(), dtime.min))


def _next_id(model) -> int:
    return (model.objects.aggregate(n=Max("pk"))["n"] or 0) + 1


def _reference_data(seed: int) -> tuple[Reference, list[str]]:
    """Stores, guides (staff logins with the demo password), tiers, tag groups and tags,
    coupon templates: created when missing, reused when present."""
    rng = random.Random(f"guides-{seed}")
    password = make_password(data.GUIDE_PASSWORD)  # hashed once: hashing is slow on purpose
    user_model = get_user_model()
    stores, stores_by_city, guides_by_store, usernames, guide_users = [], {}, {}, [], []
    for number, (code, name, province, city) in enumerate(data.STORES):
        store, _created = Store.objects.get_or_create(
            code=code, defaults={"name": name, "province": province, "city": city}
        )
        stores.append(store.pk)
        stores_by_city.setdefault(city, []).append(store.pk)
        guides_by_store[store.pk] = []
        for k in range(1, 3 + number % 2):
            username = f"guide.{code.lower()}.{k}"
            user, created = user_model.objects.get_or_create(
                username=username, defaults={"is_staff": True, "password": password}
            )
            guide_name = (
                rng.choice([s for s, _w in data.SURNAMES[:40]])
                + rng.choice(data.GIVEN_FEMALE)
                + rng.choice(data.GIVEN_FEMALE)
            )
            guide, _created = Guide.objects.get_or_create(
                user=user, defaults={"store": store, "name": guide_name}
            )
            guides_by_store[store.pk].append((guide.pk, user.pk))
            usernames.append(username)
            guide_users.append(user)
    # The role the admin gives guides it creates: their store's members, tagging, no export.
    role_group(SHOP_GUIDES).user_set.add(*guide_users)
    tiers = []
    for code, name, rank, floor in data.TIERS:
        tier, _created = Tier.objects.get_or_create(
            code=code, defaults={"name": name, "rank": rank}
        )
        tiers.append((tier.pk, floor * 100))
    tags: dict[str, dict[str, int]] = {}
    for sort, (group_name, multi, names) in enumerate(data.TAG_GROUPS):
        group, _created = TagGroup.objects.get_or_create(
            name=group_name, defaults={"multi_select": multi, "sort": sort}
        )
        tags[group_name] = {
            name: Tag.objects.get_or_create(group=group, name=name, defaults={"sort": i})[0].pk
            for i, name in enumerate(names)
        }
    templates = []
    for name, value, threshold, days in data.COUPON_TEMPLATES:
        template, _created = CouponTemplate.objects.get_or_create(
            name=name, defaults={"value": value, "threshold": threshold, "valid_days": days}
        )
        templates.append(
            (template.pk, int(template.value * 100), int(template.threshold * 100), days)
        )
    ref = Reference(
        store_ids=stores,
        stores_by_city=stores_by_city,
        guides_by_store=guides_by_store,
        tiers=sorted(tiers, key=lambda t: -t[1]),
        tags=tags,
        templates=templates,
    )
    return ref, usernames


def _coupon_counts() -> None:
    for row in Coupon.objects.values("template").annotate(n=Count("pk")).order_by():
        CouponTemplate.objects.filter(pk=row["template"]).update(issued_count=row["n"])


def demo_reset() -> None:
    """Delete every member and what hangs on them (orders, ledger, coupons, tags, consents,
    events; on PostgreSQL also other apps' rows that point at members). Stores, guides, tiers,
    tags and coupon templates stay."""
    models = [Event, PointsEntry, Coupon, MemberTag, Consent, MemberMerge, Order, Member]
    if connection.vendor == "postgresql":
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} CASCADE")
    else:
        for model in models:
            model.objects.all().delete()
    AuditLog.objects.create(actor_label="seed_demo", action="demo.reset")


def demo_invariants_check() -> dict[str, int]:
    """Count members breaking an invariant: stats differing from their paid orders, a points
    balance differing from the ledger sum or from the unspent earned points, or below zero."""
    member = connection.ops.quote_name(Member._meta.db_table)
    order = connection.ops.quote_name(Order._meta.db_table)
    points = connection.ops.quote_name(PointsEntry._meta.db_table)
    queries = {
        "stats differ from orders": f"""
            SELECT COUNT(*) FROM {member} m LEFT JOIN (
                SELECT member_id, COUNT(*) AS n, SUM(paid_amount) AS paid,
                       SUM(gross_margin) AS margin, MIN(paid_at) AS first, MAX(paid_at) AS last
                FROM {order} WHERE status = 'paid' GROUP BY member_id
            ) o ON o.member_id = m.id
            WHERE m.order_count <> COALESCE(o.n, 0)
               OR ABS(m.total_paid - COALESCE(o.paid, 0)) > 0.001
               OR ABS(m.total_margin - COALESCE(o.margin, 0)) > 0.001
               OR m.first_purchase_at IS DISTINCT FROM o.first
               OR m.last_purchase_at IS DISTINCT FROM o.last""",
        "balance differs from ledger": f"""
            SELECT COUNT(*) FROM {member} m LEFT JOIN (
                SELECT member_id, SUM(delta) AS total, SUM(remaining) AS unspent
                FROM {points} GROUP BY member_id
            ) p ON p.member_id = m.id
            WHERE m.points_balance <> COALESCE(p.total, 0)
               OR m.points_balance <> COALESCE(p.unspent, 0)""",
        "negative balance": f"SELECT COUNT(*) FROM {member} WHERE points_balance < 0",
    }  # noqa: S608
    problems = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            problems[name] = cursor.fetchone()[0]
    return problems
