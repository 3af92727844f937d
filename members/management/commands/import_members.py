"""python manage.py import_members FILE.csv — see docs/csv-import.md."""

from members.imports import members_import_csv
from members.imports.command import ImportCommand


class Command(ImportCommand):
    help = "Import or update members from a CSV file (identity resolution: no duplicates)."
    run_import = staticmethod(members_import_csv)
