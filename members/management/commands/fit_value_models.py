"""python manage.py fit_value_models [--calibration-end YYYY-MM-DD] [--score] — docs/value.md."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError, no_translations

from members.services.value import ValueFitError, member_value_score, value_models_fit
from members.value.report import fit_report


class Command(BaseCommand):
    help = (
        "Fit the BG/NBD and Gamma-Gamma value models to members' order history, print the "
        "parameters and diagnostics, and store the fit (the nightly job fits and scores)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--calibration-end",
            help="Fit on orders before this local date (YYYY-MM-DD); default: now. An earlier "
            "date also checks the predictions against the purchases made since.",
        )
        parser.add_argument(
            "--score",
            action="store_true",
            help="Then score every member with this fit (as the nightly job does).",
        )

    # English, as the other commands print: the report's phrases are translated for the admin.
    @no_translations
    def handle(self, *args, **options):
        end = None
        if options["calibration_end"]:
            try:
                end = date.fromisoformat(options["calibration_end"])
            except ValueError:
                raise CommandError(
                    f"--calibration-end: not a date like 2026-06-01: {options['calibration_end']!r}"
                ) from None
        try:
            fit = value_models_fit(calibration_end=end)
        except ValueFitError as error:
            raise CommandError(str(error)) from None
        for line in fit_report(fit):
            self.stdout.write(line)
        if options["score"]:
            result = member_value_score(fit=fit)
            self.stdout.write(
                f"scored: {result['members']} members, {result['predicted']} predicted, "
                f"{result['removed']} removed, {result['seconds']:.2f} s"
            )
