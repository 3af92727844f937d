"""Upserting a batch of members at once, with the outcome member_upsert and consent_set give
row by row (same identity resolution, same "empty never erases" rule, same events).

member_upsert costs four to eight queries a row; here a batch of a thousand rows takes a query
per identity kind to resolve, one INSERT, one UPDATE, and a few for consents and events.
tests/members/test_import_members.py checks the outcome against the services row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from members.choices import ConsentStatus, MemberStatus
from members.events import EventKind, events_record_many
from members.imports.sql import rows_update
from members.models import Consent, Event, Member

# The very rules member_upsert applies; private there, shared on purpose so both stay equal.
from members.services.members import IDENTITY_FIELDS, PROFILE_FIELDS, member_fields_apply

CONSENT_METHOD = "import"


@dataclass
class MemberItem:
    """One row to upsert: cleaned identities and profile (as member_upsert takes them), and
    consents by channel."""

    values: dict
    consents: dict[str, bool] = field(default_factory=dict)
    # Filled in by members_write_batch:
    member: Member | None = None
    created: bool = False
    changed: bool = False
    error: ValidationError | None = None


class _Batch:
    def __init__(self, items: list[MemberItem], *, now, default_source: str):
        self.items = items
        self.now = now
        self.default_source = default_source
        self.index: dict[tuple[str, str], Member] = {}
        self.new: list[Member] = []
        self.dirty: dict[int, Member] = {}
        self.dirty_fields: set[str] = set()
        self.consents: dict[tuple[int, str], Consent] = {}
        self.new_consents: list[Consent] = []
        self.changed_consents: dict[int, Consent] = {}
        self.events: list[tuple[Member, str, dict]] = []

    def load(self) -> None:
        """Lock the members owning the batch's identities, and their consents."""
        members: dict[int, Member] = {}
        for f in IDENTITY_FIELDS:
            wanted = {item.values[f] for item in self.items if item.values.get(f)}
            if wanted:
                for m in Member.objects.select_for_update().filter(**{f"{f}__in": wanted}):
                    members.setdefault(m.pk, m)
        for m in members.values():
            survivor = m
            # A merged tombstone holds no identities, but follow it like member_resolve does.
            while survivor.status == MemberStatus.MERGED and survivor.merged_into_id:
                survivor = Member.objects.select_for_update().get(pk=survivor.merged_into_id)
            survivor = members.setdefault(survivor.pk, survivor)
            for f in IDENTITY_FIELDS:
                if getattr(m, f):
                    self.index[(f, getattr(m, f))] = survivor
        channels = {c for item in self.items for c in item.consents}
        if channels:
            for consent in Consent.objects.select_for_update().filter(
                member_id__in=list(members), channel__in=channels
            ):
                self.consents[(consent.member_id, consent.channel)] = consent

    def upsert(self, item: MemberItem) -> None:
        identities = {f: item.values[f] for f in IDENTITY_FIELDS if item.values.get(f)}
        profile = {f: item.values[f] for f in PROFILE_FIELDS if f in item.values}
        if profile.get("guide") is not None and profile.get("home_store") is None:
            profile["home_store"] = profile["guide"].store
        found = {id(m): m for m in (self.index.get(k) for k in identities.items()) if m}
        if len(found) > 1:
            ids = ", ".join(sorted(f"#{m.pk}" if m.pk else _("a new row") for m in found.values()))
            item.error = ValidationError(
                {
                    "identity": [
                        _(
                            "These identities belong to different members (%(ids)s); "
                            "merge them first."
                        )
                        % {"ids": ids}
                    ]
                },
                code="identity_conflict",
            )
            return
        if found:
            member = next(iter(found.values()))
            before = {f: getattr(member, f) for f in IDENTITY_FIELDS}
            changed = member_fields_apply(member, {**identities, **profile}, keep_existing=True)
            for f in IDENTITY_FIELDS:
                if f in changed:
                    if before[f]:
                        self.index.pop((f, before[f]), None)
                    self.index[(f, getattr(member, f))] = member
            if changed:
                item.changed = True
                if member.pk:
                    self.dirty[member.pk] = member
                    self.dirty_fields.update(
                        f"{f}_id" if f in ("home_store", "guide", "tier") else f for f in changed
                    )
                self.events.append((member, EventKind.MEMBER_UPDATED, {"fields": sorted(changed)}))
        else:
            member = Member(
                **identities, **{k: v for k, v in profile.items() if v not in (None, "")}
            )
            if "source" not in profile:
                member.source = self.default_source
            item.created = True
            self.new.append(member)
            for key in identities.items():
                self.index[key] = member
            self.events.append(
                (
                    member,
                    EventKind.MEMBER_CREATED,
                    {"source": member.source, "store_id": member.home_store_id},
                )
            )
        item.member = member
        self._consents(item, member)

    def _consents(self, item: MemberItem, member: Member) -> None:
        for channel, granted in item.consents.items():
            status = ConsentStatus.GRANTED if granted else ConsentStatus.WITHDRAWN
            key = (id(member) if member.pk is None else member.pk, channel)
            consent = self.consents.get(key)
            if consent is not None and consent.status == status:
                continue
            if consent is None:
                consent = Consent(
                    member=member,
                    channel=channel,
                    status=status,
                    changed_at=self.now,
                    method=CONSENT_METHOD,
                )
                self.consents[key] = consent
                self.new_consents.append(consent)
            else:
                consent.status, consent.changed_at = status, self.now
                consent.method = CONSENT_METHOD
                if consent.pk:
                    self.changed_consents[consent.pk] = consent
            item.changed = True
            self.events.append(
                (
                    member,
                    EventKind.CONSENT_CHANGED,
                    {"channel": channel, "status": status, "method": CONSENT_METHOD},
                )
            )

    def save(self) -> None:
        Member.objects.bulk_create(self.new, batch_size=1000)
        if self.dirty:
            for member in self.dirty.values():
                member.updated_at = self.now
            rows_update(
                Member, list(self.dirty.values()), sorted(self.dirty_fields | {"updated_at"})
            )
        Consent.objects.bulk_create(self.new_consents, batch_size=1000)
        if self.changed_consents:
            rows_update(
                Consent, list(self.changed_consents.values()), ["status", "changed_at", "method"]
            )
        events_record_many(
            events=[
                Event(
                    member_id=member.pk,
                    kind=kind,
                    data=data,
                    occurred_at=self.now,
                )
                for member, kind, data in self.events
            ],
            now=self.now,
        )


def members_write_batch(items: list[MemberItem], *, now, default_source: str) -> None:
    """Upsert ``items`` in order, as member_upsert and consent_set would one by one; sets each
    item's member/created/changed, or its error (identity conflict). New members without a
    source get ``default_source``. Call in a transaction; raises IntegrityError if a concurrent
    writer took one of the identities meanwhile."""
    batch = _Batch(items, now=now, default_source=default_source)
    batch.load()
    for item in items:
        batch.upsert(item)
    batch.save()
