"""python manage.py import_orders FILE.csv — see docs/csv-import.md."""

from django.utils.translation import gettext_lazy as _

from members.imports import orders_import_csv
from members.imports.command import ImportCommand
from members.imports.orders import DEFAULT_SOURCE


class Command(ImportCommand):
    help = "Import orders from a CSV file, idempotent by (source, external_id)."
    run_import = staticmethod(orders_import_csv)

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--source",
            default=DEFAULT_SOURCE,
            help=_("Order source for rows without a source column (default: import)."),
        )

    def import_options(self, options) -> dict:
        return {"default_source": options["source"]}
