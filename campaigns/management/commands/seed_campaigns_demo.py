"""python manage.py seed_campaigns_demo: campaigns on top of the members' demo data, through
the real services. DEBUG only, once.

- "会员日 · 导购问候", launched: a WeCom 1:1 greeting to the first guide's store, sent
  through their owning guides. The first beat tick of `make run` fans it out and the worker
  hands each guide their messages: they show on the guide workspace's Tasks tab (in quiet
  hours they wait for the morning, as every marketing message does).
- "沉睡会员唤醒", a draft: a repurchase campaign through the guides with a 10% holdout, for an
  operator to look at, preview and launch.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services.campaigns import campaign_create, campaign_launch
from members.models import Guide, Member
from members.services.segments import segment_create

GREETING = (
    "{{ member_name }}您好，本周六是会员日，到店有礼。{{ guide_name }}在{{ store_name }}等您！"
)
WAKE_UP = "{{ member_name }}，好久不见！回店选购可享会员专属优惠，{{ store_name }}期待您的光临。"


class Command(BaseCommand):
    help = "Development only: a WeCom greeting through the guides, a draft repurchase campaign."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)  # accepted like the other demos

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_campaigns_demo only runs with DEBUG on.")
        if Campaign.objects.exists():
            self.stdout.write("Campaigns exist already: campaigns demo not loaded.")
            return
        # The store of the first guide the members' demo prints (guide.sh01.1), so the guide
        # a new user signs in as has work waiting.
        guide = Guide.objects.filter(is_active=True, store__is_active=True).order_by("pk").first()
        store = guide.store if guide else None
        if store is None or not Member.objects.exists():
            self.stdout.write("No stores or members yet: campaigns demo skipped.")
            return
        now = timezone.now()
        with transaction.atomic():
            audience = segment_create(
                name=f"{store.name}会员",
                tree={"all": [{"field": "store", "op": "in", "value": [store.code]}]},
                description="演示：导购问候的受众",
            )
            greeting = campaign_create(
                name="会员日 · 导购问候",
                goal="会员日到店",
                kind="one_off",
                channel="wecom",
                segment=audience,
                send_at=now,
                steps=[{"contents": {"A": {"body": GREETING}}}],
            )
            campaign_launch(campaign=greeting, now=now)
            campaign_create(
                name="沉睡会员唤醒",
                goal="复购",
                kind="repurchase",
                channel="wecom",
                holdout_percent=10,
                steps=[{"contents": {"A": {"body": WAKE_UP}}}],
            )
        self.stdout.write(
            f"Campaigns demo: “{greeting.name}” launched to {store.name} through its guides "
            "(their workspace Tasks tab), and a draft repurchase campaign."
        )
