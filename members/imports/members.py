"""Importing members from CSV: identity resolution and upsert per row, then tags and consents.

Each row goes through members.services.members.member_upsert, so an import resolves identities
(phone, union id, open id, WeCom id) exactly as the API does: a known member is updated, never
duplicated. Rows are written in batches, one transaction per batch and a savepoint per row, so a
bad row never takes the good rows of its batch with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import TagSource
from members.identity import phone_normalise
from members.imports.csvfile import csv_open
from members.imports.fields import (
    CONSENT_COLUMNS,
    parse_consent,
    parse_date,
    parse_gender,
    parse_tags,
)
from members.imports.lookups import Lookups
from members.imports.member_writer import CONSENT_METHOD, MemberItem, members_write_batch
from members.imports.report import (
    ImportReport,
    RowError,
    errors_from_validation,
)
from members.imports.runner import import_run
from members.models import Member, Tag
from members.services.members import (
    IDENTITY_FIELDS,
    consent_set,
    member_profile_clean,
    member_resolve,
    member_upsert,
)
from members.services.tags import members_tag

TEXT_FIELDS = {"name": 50, "province": 32, "city": 32}
COLUMNS = (
    *IDENTITY_FIELDS,
    *TEXT_FIELDS,
    "gender",
    "birthday",
    "source",
    "store",
    "guide",
    "tier",
    "tags",
    *CONSENT_COLUMNS,
)
# Headers as Chinese operators write them, and names other systems export.
ALIASES = {
    "手机": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "mobile": "phone",
    "姓名": "name",
    "性别": "gender",
    "生日": "birthday",
    "出生日期": "birthday",
    "省份": "province",
    "城市": "city",
    "来源": "source",
    "来源渠道": "source",
    "门店": "store",
    "门店编码": "store",
    "store_code": "store",
    "导购": "guide",
    "等级": "tier",
    "会员等级": "tier",
    "tier_code": "tier",
    "标签": "tags",
    "external_userid": "wecom_external_userid",
}
# A member created by an import without a source column is recorded as coming from "import".
DEFAULT_SOURCE = "import"


@dataclass
class _Row:
    line: int
    values: dict
    tags: list[Tag] = field(default_factory=list)
    consents: dict[str, bool] = field(default_factory=dict)


class _MemberImport:
    def __init__(self, *, report: ImportReport, actor):
        self.report = report
        self.actor = actor
        self.lookups = Lookups()

    def parse(self, line: int, row: dict[str, str], problem: str | None) -> _Row | None:
        errors: list[RowError] = []

        def fail(column: str, reason: str) -> None:
            errors.append(
                RowError(line=line, field=column, reason=reason, value=row.get(column, ""))
            )

        if problem:
            errors.append(RowError(line=line, field="", reason=problem))
        item = _Row(line=line, values={})
        for column in IDENTITY_FIELDS:
            text = row.get(column, "")
            if not text:
                continue
            if column == "phone":
                try:
                    text = phone_normalise(text)
                except ValidationError as exc:
                    fail(column, exc.messages[0])
            elif len(text) > 64:
                fail(column, _("At most 64 characters."))
            item.values[column] = text
        if not item.values and not errors:
            fail("phone", _("A member needs a phone, union id, open id or WeCom id."))
        for column, limit in TEXT_FIELDS.items():
            if row.get(column):
                if len(row[column]) > limit:
                    fail(column, _("At most %(n)d characters.") % {"n": limit})
                item.values[column] = row[column]
        self._parse_profile(row, item, fail)
        self._parse_refs(row, item, fail)
        for column, channel in CONSENT_COLUMNS.items():
            if row.get(column):
                try:
                    item.consents[channel] = parse_consent(row[column])
                except ValueError as exc:
                    fail(column, str(exc))
        if not errors:
            try:  # member_upsert's own rules, so an import accepts what the API accepts
                member_profile_clean(item.values)
            except ValidationError as exc:
                columns = {"home_store": "store"}
                errors += errors_from_validation(exc, line=line, fields=columns)
        if errors:
            self.report.add_errors(errors)
            return None
        return item

    def _parse_profile(self, row, item: _Row, fail: Callable[[str, str], None]) -> None:
        for column, parse in (("gender", parse_gender), ("birthday", parse_date)):
            if row.get(column):
                try:
                    item.values[column] = parse(row[column])
                except ValueError as exc:
                    fail(column, str(exc))
        birthday = item.values.get("birthday")
        if birthday and birthday > timezone.localdate():
            fail("birthday", _("Birthday is in the future."))
        if row.get("source"):
            source = self.lookups.source(row["source"])
            if source is None:
                fail("source", _("Unknown source channel."))
            item.values["source"] = source

    def _parse_refs(self, row, item: _Row, fail: Callable[[str, str], None]) -> None:
        store = guide = None
        if row.get("store"):
            store = self.lookups.store(row["store"])
            if store is None:
                fail("store", _("Unknown store code."))
            item.values["home_store"] = store
        if row.get("guide"):
            guide = self.lookups.guide(row["guide"])
            if guide is None:
                fail("guide", _("Unknown shop guide (give their id or username)."))
            elif store is not None and guide.store_id != store.pk:
                fail(
                    "guide",
                    _("This guide belongs to store %(code)s.") % {"code": guide.store.code},
                )
            item.values["guide"] = guide
        if row.get("tier"):
            tier = self.lookups.tier(row["tier"])
            if tier is None:
                fail("tier", _("Unknown tier."))
            item.values["tier"] = tier
        if row.get("tags"):
            try:
                refs = parse_tags(row["tags"])
            except ValueError as exc:
                fail("tags", str(exc))
                refs = []
            single_groups: set[int] = set()
            for group, name in refs:
                tag = self.lookups.tag(group, name)
                if tag is None:
                    fail("tags", _("Unknown tag “%(tag)s”.") % {"tag": f"{group}:{name}"})
                    continue
                if not tag.group.multi_select:
                    if tag.group_id in single_groups:
                        fail(
                            "tags",
                            _("Tag group “%(group)s” takes one tag per member.") % {"group": group},
                        )
                    single_groups.add(tag.group_id)
                item.tags.append(tag)

    def write(self, rows: list[_Row]) -> None:
        """Upsert the parsed rows of one batch (in bulk; row by row if a concurrent writer got
        in the way), then tag the members in bulk."""
        items = [MemberItem(values=row.values, consents=row.consents) for row in rows]
        try:
            with transaction.atomic():
                members_write_batch(items, now=timezone.now(), default_source=DEFAULT_SOURCE)
        except IntegrityError:
            items = [self._upsert_one(row) for row in rows]
        multi: dict[Tag, set[int]] = defaultdict(set)
        single: dict[tuple[int, int], Tag] = {}
        for row, item in zip(rows, items, strict=True):
            if item.error is not None:
                self.report.add_errors(errors_from_validation(item.error, line=row.line))
                continue
            if item.created:
                self.report.created += 1
            elif item.changed:
                self.report.updated += 1
            else:
                self.report.unchanged += 1
            for tag in row.tags:
                if tag.group.multi_select:
                    multi[tag].add(item.member.pk)
                else:
                    # Single-select: the last row naming a member wins, as if applied in order.
                    single[(item.member.pk, tag.group_id)] = tag
        for (member_id, _group), tag in single.items():
            multi[tag].add(member_id)
        for tag, member_ids in multi.items():
            members_tag(
                members=Member.objects.filter(pk__in=member_ids),
                tag=tag,
                source=TagSource.IMPORT,
                actor=self.actor,
            )

    def _upsert_one(self, row: _Row) -> MemberItem:
        """The services themselves, one row in one savepoint."""
        item = MemberItem(values=dict(row.values), consents=row.consents)
        started = timezone.now()
        try:
            with transaction.atomic():
                identities = {f: v for f, v in row.values.items() if f in IDENTITY_FIELDS}
                if "source" not in item.values and member_resolve(**identities) is None:
                    item.values["source"] = DEFAULT_SOURCE
                item.member, item.created = member_upsert(actor=self.actor, **item.values)
                item.changed = item.member.updated_at >= started
                for channel, granted in row.consents.items():
                    consent = consent_set(
                        member=item.member,
                        channel=channel,
                        granted=granted,
                        method=CONSENT_METHOD,
                        at=started,
                    )
                    item.changed |= consent.changed_at == started
        except ValidationError as exc:
            item.error = exc
        return item


def members_import_csv(
    *,
    stream,
    actor=None,
    encoding: str = "utf-8",
    progress: Callable[[int, int], None] | None = None,
    on_error: Callable[[RowError], None] | None = None,
    batch_size: int = 1000,
    name: str = "",
) -> ImportReport:
    """Import members from a CSV file opened in binary mode (a path's ``open(..., "rb")`` or an
    uploaded file). Columns are documented in docs/csv-import.md.

    Raises members.imports.CsvFormatError, before writing anything, when the file as a whole
    is unusable (encoding, binary content, missing columns). Otherwise every good row is kept,
    every bad one reported (``report.errors`` and ``on_error``); ``progress(done, total)`` is
    called after each batch.
    """
    source = csv_open(
        stream,
        encoding=encoding,
        known_columns=COLUMNS,
        required_any=IDENTITY_FIELDS,
        aliases=ALIASES,
    )
    report = ImportReport(kind="members", on_error=on_error)
    job = _MemberImport(report=report, actor=actor)
    return import_run(
        source=source,
        report=report,
        parse=job.parse,
        write=job.write,
        batch_size=batch_size,
        progress=progress,
        actor=actor,
        name=name,
    )
