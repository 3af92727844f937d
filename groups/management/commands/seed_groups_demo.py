"""python manage.py seed_groups_demo: community groups on top of the members' demo data,
through the real services. DEBUG only, once.

Per store (up to three): a join code whose pool has overflowed into a second group, a VIP
group the store's guide invited silver-card members and above into, and a flash-sale group
ending in two days; one earlier flash group, dissolved with its sales report; and a layering
rule (silver cards and above → the first store's VIP pool) with a dry run waiting to be applied.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from groups.choices import GroupPurpose
from groups.models import CommunityGroup, LayeringRule
from groups.services.codes import join_code_create
from groups.services.groups import group_create, group_dissolve
from groups.services.layering import layering_preview
from groups.services.seats import group_join_by_code, group_members_add
from members.events import events_dispatch_now
from members.models import Event, Guide, Member, Segment, Store

STORES = 3
POOL_CAPACITY = 40
JOINERS = 55


class Command(BaseCommand):
    help = "Development only: demo community groups, join codes, a flash sale and layering."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)  # accepted like the other demos

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_groups_demo only runs with DEBUG on.")
        if CommunityGroup.objects.exists():
            self.stdout.write("Community groups exist already: groups demo not loaded.")
            return
        stores = list(Store.objects.filter(is_active=True).order_by("pk")[:STORES])
        if not stores or not Member.objects.exists():
            self.stdout.write("No stores or members yet: groups demo skipped.")
            return
        now = timezone.now()
        made = {"groups": 0, "seats": 0}
        vip_codes = []
        for store in stores:
            with transaction.atomic():
                made_here, vip_code = self._store(store, now=now)
            vip_codes.append(vip_code)
            for key, value in made_here.items():
                made[key] += value
        with transaction.atomic():
            self._ended_flash_group(stores[0], now=now)
            self._layering(vip_codes[0])
        # The worker would run these after commit; run them here so the demo is complete.
        pending = Event.objects.filter(dispatched_at__isnull=True).values_list("pk", flat=True)
        events_dispatch_now(event_ids=list(pending))
        self.stdout.write(
            f"Groups demo: {CommunityGroup.objects.count()} groups, "
            f"{made['seats']} seats taken, a flash sale, a layering dry run."
        )

    def _store(self, store: Store, *, now) -> tuple[dict, object]:
        guide = Guide.objects.filter(store=store, is_active=True).order_by("pk").first()
        members = Member.objects.filter(home_store=store, status="active").order_by("pk")
        seats = 0
        code = join_code_create(
            name=f"{store.name}福利群",
            store=store,
            group_owner=guide,
            group_capacity=POOL_CAPACITY,
        )
        for member in members[:JOINERS]:
            group_join_by_code(member=member, code=code, now=now - timedelta(days=20))
            seats += 1
        vip_code = join_code_create(
            name=f"{store.name}VIP尊享群",
            store=store,
            group_owner=guide,
            group_purpose=GroupPurpose.VIP,
            group_capacity=200,
        )
        vip = group_create(
            name=f"{store.name}VIP尊享群",
            purpose=GroupPurpose.VIP,
            owner=guide,
            store=store,
            capacity=200,
            join_code=vip_code,
        )
        vips = members.filter(tier__rank__gte=1)[:30]
        seats += len(
            group_members_add(
                group=vip,
                members=Member.objects.filter(pk__in=list(vips.values_list("pk", flat=True))),
                invited_by=guide,
                now=now - timedelta(days=10),
            )
        )
        flash = group_create(
            name=f"{store.name}周末秒杀群",
            purpose=GroupPurpose.FLASH_SALE,
            owner=guide,
            store=store,
            capacity=100,
            expires_at=now + timedelta(days=2),
        )
        buyers = members.filter(order_count__gte=1).order_by("-last_purchase_at", "pk")[:25]
        seats += len(
            group_members_add(
                group=flash,
                members=Member.objects.filter(pk__in=list(buyers.values_list("pk", flat=True))),
                invited_by=guide,
                now=now - timedelta(days=1),
            )
        )
        groups = CommunityGroup.objects.filter(store=store).count()
        return {"groups": groups, "seats": seats}, vip_code

    def _ended_flash_group(self, store: Store, *, now) -> None:
        """A flash group that ran for the last 90 days, dissolved with its sales report."""
        guide = Guide.objects.filter(store=store, is_active=True).order_by("pk").first()
        group = group_create(
            name=f"{store.name}618秒杀群",
            purpose=GroupPurpose.FLASH_SALE,
            owner=guide,
            store=store,
            capacity=500,
            expires_at=now + timedelta(minutes=5),
        )
        buyers = Member.objects.filter(home_store=store, status="active", order_count__gte=1)
        ids = list(buyers.order_by("-pk").values_list("pk", flat=True)[:60])
        group_members_add(
            group=group,
            members=Member.objects.filter(pk__in=ids),
            invited_by=guide,
            now=now - timedelta(days=90),
        )
        group_dissolve(group=group, now=now)

    def _layering(self, vip_code) -> None:
        segment, _created = Segment.objects.get_or_create(
            name="银卡及以上会员",
            defaults={"tree": {"field": "tier", "op": "in", "value": ["silver", "gold", "black"]}},
        )
        LayeringRule.objects.create(
            position=1, name="高等级会员进 VIP 群", segment=segment, join_code=vip_code
        )
        layering_preview()
