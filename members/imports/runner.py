"""The loop both CSV imports share: batches of rows, each parsed and written in one
transaction, progress after each batch, the report's timing and the import's audit row."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from members.imports.csvfile import CsvSource, batched, csv_rows
from members.imports.report import ImportReport, import_audit


def import_run(
    *,
    source: CsvSource,
    report: ImportReport,
    parse: Callable[..., Any | None],
    write: Callable[[list], None],
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    actor,
    name: str,
) -> ImportReport:
    """Import ``source`` batch by batch: ``parse(line, record)`` turns a row into an item (None
    for a bad row, which it reports), ``write(items)`` writes a batch's items inside one
    transaction. ``progress(done, total)`` is called after each batch; the import is audited
    at the end. Columns the file has and the import does not know are a warning."""
    if source.ignored_columns:
        report.warnings.append(
            _("Columns ignored: %(columns)s.") % {"columns": ", ".join(source.ignored_columns)}
        )
    started = time.monotonic()
    for batch in batched(csv_rows(source), batch_size):
        report.rows += len(batch)
        with transaction.atomic():
            write(_parsed(parse, batch))
        if progress is not None:
            progress(report.rows, source.rows_total)
    report.seconds = time.monotonic() - started
    import_audit(report, actor=actor, name=name)
    return report


def _parsed(parse: Callable[..., Any | None], batch: Iterable[tuple]) -> list:
    return [item for item in (parse(*row) for row in batch) if item is not None]
