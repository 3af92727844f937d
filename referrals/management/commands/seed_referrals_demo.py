"""python manage.py seed_referrals_demo: a referral programme, a fission task and referred
friends (through the real services) on top of the members' demo data. DEBUG only, once."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from members.events import events_dispatch_now
from members.models import Event, Guide, Member
from members.services.members import member_upsert
from members.services.orders import order_upsert
from referrals.choices import FissionCounts, ReferralChannel
from referrals.models import FissionTask, Programme
from referrals.services.attach import referral_attach
from referrals.services.codes import referral_code_for_guide, referral_code_for_member

FRIENDS = 150


class Command(BaseCommand):
    help = "Development only: demo referral programme, fission task and referred friends."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("seed_referrals_demo only runs with DEBUG on.")
        if Programme.objects.exists():
            self.stdout.write("A referral programme exists already: referral demo not loaded.")
            return
        referrers = list(Member.objects.filter(status="active").order_by("pk")[:40])
        if not referrers:
            self.stdout.write("No members yet: referral demo skipped.")
            return
        rng = random.Random(options["seed"])
        now = timezone.now()
        Programme.objects.create(
            name="老带新 荐新有礼",
            is_active=True,
            poster_title="邀请好友 一起变美",
            min_order_amount=Decimal("99"),
            qualify_within_days=30,
            referrer_points=200,
            referee_points=100,
            commission_level1_percent=Decimal("5"),
            commission_level2_percent=Decimal("2"),
        )
        FissionTask.objects.create(
            name="邀请3位好友下单 得500积分",
            counts=FissionCounts.PURCHASE,
            goal=3,
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=30),
            reward_points=500,
        )
        guides = list(Guide.objects.filter(is_active=True)[:5])
        for guide in guides:
            referral_code_for_guide(guide=guide)
        pool = list(referrers)
        made = 0
        for n in range(FRIENDS):
            with transaction.atomic():
                # 170 is a prefix the members' demo data never uses: these are new people.
                friend, _created = member_upsert(
                    phone=f"+86170{90000000 + n:08d}", name=f"好友{n}", source="referral"
                )
                # Every 37th friend signs up with the first referrer's code on one shared
                # device, and buys: the abuse checks hold those rewards for review.
                shared = n % 37 == 5
                if shared:
                    code = referral_code_for_member(member=referrers[0]).code
                elif guides and rng.random() < 0.15:
                    code = referral_code_for_guide(guide=rng.choice(guides)).code
                else:
                    code = referral_code_for_member(member=rng.choice(pool)).code
                device = "demo-shared-device" if shared else f"demo-device-{n}"
                referral_attach(
                    member=friend, code=code, channel=ReferralChannel.SIGNUP, device_id=device
                )
                pool.append(friend)
                if shared or rng.random() < 0.6:
                    order_upsert(
                        source="demo",
                        external_id=f"REF-{n:05d}",
                        member=friend,
                        paid_amount=Decimal(rng.choice(["99", "159", "299", "520"])),
                        paid_at=timezone.now(),
                    )
            made += 1
        # The worker would run these after commit; run them here so the demo is complete.
        pending = Event.objects.filter(dispatched_at__isnull=True).values_list("pk", flat=True)
        events_dispatch_now(event_ids=list(pending))
        self.stdout.write(f"Referral demo: a programme, a fission task, {made} referred friends.")
