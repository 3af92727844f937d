"""Importing orders from CSV, idempotent by (source, external id).

Rows are checked with the same rules as members.services.orders.order_upsert. New orders are
written in bulk (members.imports.order_writer); a row that touches an order already received
is a no-op when it matches, and otherwise goes through order_upsert itself (a refund, or the
"reused external id" refusal), so the outcome is the one order_upsert gives row by row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import MemberStatus, OrderStatus
from members.identity import phone_normalise
from members.imports.csvfile import csv_open
from members.imports.fields import parse_datetime, parse_decimal, parse_int, parse_order_status
from members.imports.lookups import Lookups
from members.imports.order_writer import orders_write_new
from members.imports.report import ImportReport, RowError, errors_from_validation
from members.imports.runner import import_run
from members.models import Member, Order, Store
from members.services.orders import CONTENT_FIELDS, order_upsert, order_values_clean

MEMBER_COLUMNS = ("member_phone", "member_unionid", "member_id")
COLUMNS = (
    "source",
    "external_id",
    *MEMBER_COLUMNS,
    "store",
    "paid_amount",
    "gross_margin",
    "item_count",
    "paid_at",
    "status",
)
ALIASES = {
    "订单号": "external_id",
    "外部订单号": "external_id",
    "order_id": "external_id",
    "订单来源": "source",
    "手机": "member_phone",
    "手机号": "member_phone",
    "会员手机号": "member_phone",
    "unionid": "member_unionid",
    "会员id": "member_id",
    "门店": "store",
    "门店编码": "store",
    "实付金额": "paid_amount",
    "支付金额": "paid_amount",
    "毛利": "gross_margin",
    "件数": "item_count",
    "支付时间": "paid_at",
    "状态": "status",
    "订单状态": "status",
}
DEFAULT_SOURCE = "import"


@dataclass
class _Row:
    line: int
    values: dict  # cleaned by order_upsert's own rules
    member: Member
    store: Store | None

    @property
    def key(self) -> tuple[str, str]:
        return self.values["source"], self.values["external_id"]

    def content(self) -> dict:
        return {
            "member_id": self.member.pk,
            "store_id": self.store.pk if self.store else None,
            **{f: self.values[f] for f in CONTENT_FIELDS if f in self.values},
        }


class _OrderImport:
    def __init__(self, *, report: ImportReport, default_source: str):
        self.report = report
        self.default_source = default_source
        self.lookups = Lookups()
        self.state: dict[tuple[str, str], dict] = {}

    def parse(self, line: int, row: dict[str, str], problem: str | None) -> dict | None:
        """Typed values of one row, member reference still unresolved; None when bad."""
        errors: list[RowError] = []

        def fail(column: str, reason: str) -> None:
            errors.append(
                RowError(line=line, field=column, reason=reason, value=row.get(column, ""))
            )

        if problem:
            errors.append(RowError(line=line, field="", reason=problem))
        typed: dict = {
            "source": row.get("source") or self.default_source,
            "external_id": row.get("external_id", ""),
            "gross_margin": 0,
            "item_count": 1,
            "status": OrderStatus.PAID,
        }
        parsers = {
            "paid_amount": parse_decimal,
            "gross_margin": parse_decimal,
            "item_count": parse_int,
            "paid_at": parse_datetime,
            "status": parse_order_status,
        }
        failed = set()
        for column, parse in parsers.items():
            if row.get(column):
                try:
                    typed[column] = parse(row[column])
                except ValueError as exc:
                    fail(column, str(exc))
                    failed.add(column)
            elif column in ("paid_amount", "paid_at"):
                fail(column, _("This value is required."))
                failed.add(column)
        # Stand-ins for unreadable cells, so order_upsert's rules still check the other ones.
        stand_ins = {
            "paid_amount": Decimal(0),
            "gross_margin": Decimal(0),
            "item_count": 1,
            "paid_at": timezone.now() - timedelta(days=1),
            "status": OrderStatus.PAID,
        }
        try:
            typed = order_values_clean(**{**typed, **{c: stand_ins[c] for c in failed}})
        except ValidationError as exc:
            for error in errors_from_validation(exc, line=line):
                if error.field not in failed:
                    fail(error.field, error.reason)
        refs = {column: row[column] for column in MEMBER_COLUMNS if row.get(column)}
        if not refs:
            fail("member_phone", _("Give the member's phone, union id or member id."))
        if "member_phone" in refs:
            try:
                refs["member_phone"] = phone_normalise(refs["member_phone"])
            except ValidationError as exc:
                fail("member_phone", exc.messages[0])
        if "member_id" in refs and not refs["member_id"].isdigit():
            fail("member_id", _("Not a member id."))
        store = None
        if row.get("store"):
            store = self.lookups.store(row["store"])
            if store is None:
                fail("store", _("Unknown store code."))
        if errors:
            self.report.add_errors(errors)
            return None
        return {"line": line, "values": typed, "refs": refs, "store": store}

    def resolve(self, parsed: list[dict]) -> list[_Row]:
        """Find the members the rows name, a few queries per batch."""
        phones = {p["refs"]["member_phone"] for p in parsed if "member_phone" in p["refs"]}
        unionids = {p["refs"]["member_unionid"] for p in parsed if "member_unionid" in p["refs"]}
        ids = {int(p["refs"]["member_id"]) for p in parsed if "member_id" in p["refs"]}
        fields = ("pk", "phone", "unionid", "status", "merged_into_id")
        by_phone = {m.phone: m for m in Member.objects.filter(phone__in=phones).only(*fields)}
        by_unionid = {
            m.unionid: m for m in Member.objects.filter(unionid__in=unionids).only(*fields)
        }
        by_id = {m.pk: m for m in Member.objects.filter(pk__in=ids).only(*fields)}
        # Old exports name members merged since: follow the tombstone to the survivor.
        survivors = {m.merged_into_id for m in by_id.values() if m.merged_into_id}
        while survivors:
            found = {m.pk: m for m in Member.objects.filter(pk__in=survivors).only(*fields)}
            for pk, member in list(by_id.items()):
                if member.merged_into_id in found:
                    by_id[pk] = found[member.merged_into_id]
            survivors = {m.merged_into_id for m in found.values() if m.merged_into_id} - set(found)
        rows = []
        for p in parsed:
            refs, errors, members = p["refs"], [], {}
            for column, table, key in (
                ("member_phone", by_phone, refs.get("member_phone")),
                ("member_unionid", by_unionid, refs.get("member_unionid")),
                ("member_id", by_id, int(refs["member_id"]) if "member_id" in refs else None),
            ):
                if key is None:
                    continue
                member = table.get(key)
                if member is None:
                    errors.append(
                        RowError(p["line"], column, _("No member has this value."), str(key))
                    )
                else:
                    members[member.pk] = member
            if not errors and len(members) > 1:
                errors.append(
                    RowError(
                        p["line"], "member_id", _("The member columns name different members.")
                    )
                )
            member = next(iter(members.values()), None)
            if not errors and member.status != MemberStatus.ACTIVE:
                errors.append(RowError(p["line"], "member_id", _("This member was erased.")))
            if errors:
                self.report.add_errors(errors)
                continue
            rows.append(_Row(line=p["line"], values=p["values"], member=member, store=p["store"]))
        return rows

    def write(self, rows: list[_Row]) -> None:
        """Write one batch in file order: new orders in bulk, anything else through
        order_upsert after the new orders before it are written."""
        by_source: dict[str, set[str]] = {}
        for row in rows:
            by_source.setdefault(row.values["source"], set()).add(row.values["external_id"])
        # (source, external_id) pairs, so the lookup uses the unique index on both columns.
        wanted = Q(pk__in=[])
        for source, external_ids in by_source.items():
            wanted |= Q(source=source, external_id__in=external_ids)
        existing = Order.objects.select_for_update().filter(wanted) if by_source else []
        # What each key holds now: an order in the database, or a row about to be written.
        self.state = {(o.source, o.external_id): _snapshot(o) for o in existing}
        pending: list[_Row] = []
        for row in rows:
            known = self.state.get(row.key)
            if known is None:
                pending.append(row)
                self.state[row.key] = {**row.content(), "status": row.values["status"]}
                continue
            content = row.content()
            # A "paid" row for an order refunded since is history, not news: the refund stands.
            # (order_upsert refuses to pay a refunded order again; a re-import must not fail.)
            if known["status"] in (row.values["status"], OrderStatus.REFUNDED) and all(
                known[f] == content[f] for f in CONTENT_FIELDS
            ):
                self.report.unchanged += 1
                continue
            self._flush(pending)
            pending = []
            self._upsert_one(row)
        self._flush(pending)

    def _flush(self, pending: list[_Row]) -> None:
        if not pending:
            return
        try:
            with transaction.atomic():
                orders_write_new(rows=[(r.member, r.store, r.values) for r in pending])
        except IntegrityError:
            # Another writer sent one of these orders meanwhile: go row by row instead.
            for row in pending:
                self.state.pop(row.key, None)
                self._upsert_one(row)
            return
        self.report.created += len(pending)

    def _upsert_one(self, row: _Row) -> None:
        try:
            with transaction.atomic():
                order, created = order_upsert(member=row.member, store=row.store, **row.values)
        except ValidationError as exc:
            fields = {"member": "member_id"}
            self.report.add_errors(errors_from_validation(exc, line=row.line, fields=fields))
            return
        self.state[row.key] = _snapshot(order)
        if created:
            self.report.created += 1
        else:
            self.report.updated += 1


def _snapshot(order: Order) -> dict:
    return {**{f: getattr(order, f) for f in CONTENT_FIELDS}, "status": order.status}


def orders_import_csv(
    *,
    stream,
    actor=None,
    encoding: str = "utf-8",
    default_source: str = DEFAULT_SOURCE,
    progress: Callable[[int, int], None] | None = None,
    on_error: Callable[[RowError], None] | None = None,
    batch_size: int = 1000,
    name: str = "",
) -> ImportReport:
    """Import orders from a CSV file opened in binary mode; columns in docs/csv-import.md.

    Orders are idempotent by (source, external_id): importing a file again changes nothing, a
    row with status "refunded" refunds the order, and a known external id with other content is
    reported as a bad row. ``default_source`` applies to rows without a source. Member stats,
    points and the order.paid / points.changed events end up as order_upsert leaves them.
    Raises CsvFormatError, before writing anything, when the file is unusable.
    """
    source = csv_open(
        stream,
        encoding=encoding,
        known_columns=COLUMNS,
        required=("external_id", "paid_amount", "paid_at"),
        required_any=MEMBER_COLUMNS,
        aliases=ALIASES,
    )
    report = ImportReport(kind="orders", on_error=on_error)
    job = _OrderImport(report=report, default_source=default_source)
    return import_run(
        source=source,
        report=report,
        parse=job.parse,
        write=lambda parsed: job.write(job.resolve(parsed)),
        batch_size=batch_size,
        progress=progress,
        actor=actor,
        name=name,
    )
