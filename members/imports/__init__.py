"""CSV imports of members and orders: streaming, batched, every bad row reported.

Entry points for the command line and the admin:

    from members.imports import CsvFormatError, members_import_csv, orders_import_csv

    with open(path, "rb") as stream:
        report = members_import_csv(stream=stream, actor=user)

Columns and rules are documented in docs/csv-import.md.
"""

from members.imports.csvfile import CsvFormatError
from members.imports.members import members_import_csv
from members.imports.orders import orders_import_csv
from members.imports.report import ImportReport, RowError

__all__ = [
    "CsvFormatError",
    "ImportReport",
    "RowError",
    "members_import_csv",
    "orders_import_csv",
]
