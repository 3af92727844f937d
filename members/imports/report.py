"""What an import did: counts, and every bad row with its line, field and reason."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from members.models import AuditLog

# Kept in memory for the admin page; every error still reaches ``on_error`` (stdout, CSV file).
MAX_ERRORS_KEPT = 1000


@dataclass(frozen=True)
class RowError:
    """One problem with one row: the file line it starts on, the column, and why."""

    line: int
    field: str
    reason: str
    value: str = ""

    def __str__(self) -> str:
        where = _("line %(line)d") % {"line": self.line}
        if self.field:
            where += f" [{self.field}]"
        shown = f" ({self.value})" if self.value and self.value not in self.reason else ""
        return f"{where}: {self.reason}{shown}"


@dataclass
class ImportReport:
    """Counts of an import and its bad rows (the first MAX_ERRORS_KEPT of them)."""

    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad_rows: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    on_error: Callable[[RowError], None] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when every row was imported."""
        return self.bad_rows == 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def add_errors(self, errors: list[RowError]) -> None:
        """Record the problems of one bad row (one or more fields)."""
        if not errors:
            return
        self.bad_rows += 1
        for error in errors:
            self.error_count += 1
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append(error)
            if self.on_error is not None:
                self.on_error(error)

    def summary(self) -> str:
        """One translated sentence for the command line or an admin message."""
        text = _(
            "%(rows)d rows read in %(seconds).1f s: %(created)d created, %(updated)d updated, "
            "%(unchanged)d unchanged."
        ) % {
            "rows": self.rows,
            "seconds": self.seconds,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }
        if self.bad_rows:
            text += " " + ngettext(
                "%(n)d bad row was skipped; the other rows were kept.",
                "%(n)d bad rows were skipped; the other rows were kept.",
                self.bad_rows,
            ) % {"n": self.bad_rows}
        return text


def errors_from_validation(
    exc: ValidationError, *, line: int, fields: dict[str, str] | None = None
) -> list[RowError]:
    """Turn a service's ValidationError into row errors; ``fields`` maps its field names to
    CSV column names where they differ."""
    fields = fields or {}
    if hasattr(exc, "error_dict"):
        return [
            RowError(line=line, field=fields.get(name, name), reason=message)
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [RowError(line=line, field="", reason=message) for message in exc.messages]


class ErrorsCsvWriter:
    """Writes bad rows to a CSV file (line, field, reason, value) as they are found."""

    HEADER = ("line", "field", "reason", "value")

    def __init__(self, stream):
        self._writer = csv.writer(stream)
        self._writer.writerow(self.HEADER)

    def __call__(self, error: RowError) -> None:
        self._writer.writerow((error.line, error.field, error.reason, error.value))


def import_audit(report: ImportReport, *, actor, name: str) -> None:
    """Write the audit row of an import: who imported which file, and what it did."""
    AuditLog.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=str(actor or "command line"),
        action=f"{report.kind}.import",
        target=name[:200],
        data={
            "rows": report.rows,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "bad_rows": report.bad_rows,
        },
    )
