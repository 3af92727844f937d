"""python manage.py refresh_member_metrics [--now ISO-8601] — see docs/metrics.md."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from members.services.metrics import member_metrics_refresh


class Command(BaseCommand):
    help = "Recompute every active member's RFM scores and lifecycle stage (as the nightly task)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            help="Compute as of this time (ISO 8601, local time zone if none); default: now.",
        )

    def handle(self, *args, **options):
        now = None
        if options["now"]:
            now = parse_datetime(options["now"])
            if now is None:
                raise CommandError(f"--now: not a date and time: {options['now']!r}")
        result = member_metrics_refresh(now=now)
        out = self.stdout
        out.write(
            f"members: {result['members']}  scored: {result['scored']}  "
            f"written: {result['written']}  removed: {result['removed']}  "
            f"events: {result['events']}"
        )
        out.write("stages: " + _pairs(result["stages"]))
        out.write("stage changes: " + (_pairs(result["stage_changes"]) or "none"))
        out.write(f"time: {result['seconds']:.2f} s")


def _pairs(counts: dict[str, int]) -> str:
    return "  ".join(f"{key}={value}" for key, value in counts.items())
