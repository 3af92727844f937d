"""python manage.py seed_demo --members N [--orders-per-member X] [--seed S] [--reset]
[--no-events]"""

import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from members.demo import data
from members.demo.generate import order_frequency_for
from members.demo.seed import DemoDataExists, demo_seed


class Command(BaseCommand):
    help = "Load realistic, reproducible demo data: stores, guides, tags, members and orders."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=1000, help=_("How many members."))
        parser.add_argument(
            "--orders-per-member",
            type=float,
            default=None,
            help=_(
                "Average orders per member (about 2 by default); buyers come back more or "
                "less often to reach it. 5 with 1,000,000 members gives about 5M orders."
            ),
        )
        parser.add_argument("--seed", type=int, default=1, help=_("Same seed, same data."))
        parser.add_argument(
            "--reset",
            action="store_true",
            help=_("Delete all members and their orders, points, coupons, tags and events first."),
        )
        parser.add_argument(
            "--no-events",
            action="store_true",
            help=_("Skip timeline events (member.created, order.paid): faster for big seeds."),
        )
        parser.add_argument(
            "--no-check", action="store_true", help=_("Skip the invariant check at the end.")
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        if options["members"] < 0:
            raise CommandError(_("--members cannot be negative."))
        if options["orders_per_member"] is not None:
            try:
                order_frequency_for(options["orders_per_member"])  # fails before any work
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        bar = tqdm(
            total=options["members"],
            unit=_("members"),
            file=sys.stderr,
            disable=options["no_progress"] or not sys.stderr.isatty(),
        )

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        try:
            summary = demo_seed(
                members=options["members"],
                seed=options["seed"],
                events=not options["no_events"],
                reset=options["reset"],
                check=not options["no_check"],
                progress=progress,
                orders_per_member=options["orders_per_member"],
            )
        except DemoDataExists as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        for name, count in summary.rows.items():
            self.stdout.write(f"{name:>10}: {count:>10,}")
        timings = ", ".join(f"{name} {s:.1f} s" for name, s in summary.seconds.items())
        self.stdout.write(_("Time: %(timings)s") % {"timings": timings})
        self.stdout.write(
            _("Guide logins (password “%(password)s”): %(users)s")
            % {"password": data.GUIDE_PASSWORD, "users": ", ".join(summary.guides)}
        )
        broken = {name: n for name, n in summary.problems.items() if n}
        if broken:
            raise CommandError(_("Invariants broken: %(broken)s") % {"broken": broken})
        if summary.problems:
            self.stdout.write(
                self.style.SUCCESS(
                    _("Invariants hold: stats match orders, points balances match the ledger.")
                )
            )
