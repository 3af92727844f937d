"""Order CSV import: idempotent by (source, external id), bad rows reported, and the same
stats, points and events as order_upsert row by row."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from members.choices import OrderStatus
from members.imports import orders_import_csv
from members.models import Event, Member, Order, PointsEntry
from members.services.members import member_merge
from members.services.orders import order_upsert
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = (
    "source,external_id,member_phone,store,paid_amount,gross_margin,item_count,paid_at,status\n"
)


def _import(text: str, **kwargs):
    return orders_import_csv(stream=io.BytesIO(text.encode("utf-8")), **kwargs)


@pytest.fixture
def zhang():
    return factories.MemberFactory(phone="+8613812345678")


@pytest.fixture
def shop():
    return factories.StoreFactory(code="SH01")


def _stats_match_orders():
    for member in Member.objects.all():
        paid = Order.objects.filter(member=member, status=OrderStatus.PAID).aggregate(
            n=Count("pk"), total=Sum("paid_amount"), first=Min("paid_at"), last=Max("paid_at")
        )
        assert member.order_count == paid["n"]
        assert member.total_paid == (paid["total"] or 0)
        assert (member.first_purchase_at, member.last_purchase_at) == (paid["first"], paid["last"])
        ledger = PointsEntry.objects.filter(member=member).aggregate(s=Sum("delta"))["s"] or 0
        assert member.points_balance == ledger


def test_good_rows_are_kept_and_bad_rows_reported(zhang, shop):
    report = _import(
        HEADER + "pos,A1,13812345678,SH01,199.00,80,2,2024-05-01 10:00:00,paid\n"
        "pos,A2,13812345678,SH01,-5,,,2024-05-01 10:00:00,\n"
        "pos,A3,13900000000,,10,,,2024-05-01,\n"
        "pos,A4,13812345678,XX,10,,,yesterday,lost\n"
        "pos,A5,13812345678,,10,,1.5,2024-05-01,\n"
    )
    assert (report.created, report.bad_rows) == (1, 4)
    assert {(e.line, e.field) for e in report.errors} == {
        (3, "paid_amount"),
        (4, "member_phone"),
        (5, "store"),
        (5, "paid_at"),
        (5, "status"),
        (6, "item_count"),
    }
    order = Order.objects.get()
    assert (order.external_id, order.item_count, order.store) == ("A1", 2, shop)
    # A local time without offset is Asia/Shanghai.
    assert order.paid_at == datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    zhang.refresh_from_db()
    assert (zhang.order_count, zhang.total_paid, zhang.points_balance) == (1, Decimal("199"), 199)


def test_reimport_is_idempotent(zhang, shop):
    text = HEADER + "".join(
        f"pos,E{i},13812345678,SH01,{100 + i}.50,40,1,2024-05-0{i} 10:00:00,paid\n"
        for i in range(1, 6)
    )
    first = _import(text, batch_size=2)
    second = _import(text, batch_size=2)
    assert (first.created, second.created, second.unchanged) == (5, 0, 5)
    assert Order.objects.count() == 5
    zhang.refresh_from_db()
    assert zhang.points_balance == sum(100 + i for i in range(1, 6))
    assert Event.objects.filter(kind="order.paid").count() == 5
    _stats_match_orders()


def test_reused_external_id_with_other_content_is_a_bad_row(zhang):
    _import(HEADER + "pos,E1,13812345678,,120,,,2024-05-01 10:00:00,\n")
    report = _import(
        HEADER + "pos,E1,13812345678,,999,,,2024-05-01 10:00:00,\n"
        "pos,E2,13812345678,,50,,,2024-05-01 10:00:00,\n"
        "pos,E2,13812345678,,51,,,2024-05-01 10:00:00,\n"
    )
    assert [(e.line, e.field) for e in report.errors] == [(2, "external_id"), (4, "external_id")]
    assert "paid_amount" in report.errors[0].reason
    assert sorted(Order.objects.values_list("external_id", "paid_amount")) == [
        ("E1", Decimal("120.00")),
        ("E2", Decimal("50.00")),
    ]


def test_a_refunded_row_refunds_and_a_reimport_keeps_the_refund(zhang):
    text = (
        HEADER + "pos,E1,13812345678,,120,,,2024-05-01 10:00:00,paid\n"
        "pos,E2,13812345678,,30,,,2024-05-02 10:00:00,paid\n"
        "pos,E1,13812345678,,120,,,2024-05-01 10:00:00,refunded\n"
    )
    first = _import(text)
    second = _import(text)
    assert (first.created, first.updated, first.bad_rows) == (2, 1, 0)
    assert (second.unchanged, second.bad_rows) == (3, 0)
    assert Order.objects.get(external_id="E1").status == OrderStatus.REFUNDED
    zhang.refresh_from_db()
    assert (zhang.order_count, zhang.total_paid, zhang.points_balance) == (1, Decimal("30"), 30)
    _stats_match_orders()


def test_member_found_by_unionid_or_id_and_merged_ids_follow_the_survivor():
    survivor = factories.MemberFactory(unionid="U1")
    merged = factories.MemberFactory()
    member_merge(survivor=survivor, merged=merged)
    report = _import(
        "external_id,member_unionid,member_id,paid_amount,paid_at\n"
        f"E1,U1,,10,2024-05-01\n"
        f"E2,,{merged.pk},20,2024-05-01\n"
        f"E3,U1,{factories.MemberFactory().pk},30,2024-05-01\n"
        f"E4,,999999,30,2024-05-01\n"
    )
    assert set(Order.objects.values_list("member", flat=True)) == {survivor.pk}
    assert set(Order.objects.values_list("source", flat=True)) == {"import"}
    assert [(e.line, e.field) for e in report.errors] == [(4, "member_id"), (5, "member_id")]


def test_default_source_applies_to_rows_without_one(zhang):
    _import(
        "source,external_id,member_phone,paid_amount,paid_at\n"
        ",E1,13812345678,10,2024-05-01\nweb,E1,13812345678,10,2024-05-01\n",
        default_source="pos",
    )
    assert sorted(Order.objects.values_list("source", flat=True)) == ["pos", "web"]


def _ledger(member):
    points = [
        (p.kind, p.delta, p.balance_after, p.remaining, p.reason, p.order.external_id)
        for p in PointsEntry.objects.filter(member=member).select_related("order").order_by("pk")
    ]
    events = []
    for e in Event.objects.filter(member=member).order_by("pk"):
        data = {k: v for k, v in e.data.items() if k not in ("order_id", "store_id")}
        events.append((e.kind, sorted(data.items())))
    stats = Member.objects.filter(pk=member.pk).values(
        "order_count",
        "total_paid",
        "total_margin",
        "first_purchase_at",
        "last_purchase_at",
        "points_balance",
    )[0]
    return points, events, stats


def test_bulk_import_equals_order_upsert_row_by_row(shop):
    now = timezone.now()
    rows = [
        ("E1", "199.90", "80", 2, now - timedelta(days=30), "paid"),
        ("E2", "0.50", "0", 1, now - timedelta(days=20), "paid"),
        ("E3", "88", "30", 1, now - timedelta(days=10), "refunded"),
        ("E4", "1200", "600", 3, now - timedelta(days=5), "paid"),
        ("E1", "199.90", "80", 2, now - timedelta(days=30), "refunded"),
        ("E5", "35.55", "12", 1, now - timedelta(days=1), "paid"),
    ]
    imported = factories.MemberFactory(phone="+8613800000001")
    upserted = factories.MemberFactory(phone="+8613800000002")
    text = "external_id,member_phone,store,paid_amount,gross_margin,item_count,paid_at,status\n"
    text += "".join(
        f"{ext},13800000001,SH01,{amount},{margin},{items},{at.isoformat()},{status}\n"
        for ext, amount, margin, items, at, status in rows
    )
    report = _import(text, batch_size=3)
    assert report.ok
    for ext, amount, margin, items, at, status in rows:
        order_upsert(
            source="other-" + "import",
            external_id=ext,
            member=upserted,
            store=shop,
            paid_amount=amount,
            gross_margin=margin,
            item_count=items,
            paid_at=at,
            status=status,
        )
    assert _ledger(imported) == _ledger(upserted)
    _stats_match_orders()
