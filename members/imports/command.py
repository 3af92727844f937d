"""The shared shape of the import_members and import_orders management commands."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from tqdm import tqdm

from members.imports.csvfile import CsvFormatError
from members.imports.report import ErrorsCsvWriter, ImportReport, RowError

# Exit codes: 1 = some rows were bad (the good ones are kept); 2 = file refused, nothing written.
EXIT_BAD_ROWS = 1
EXIT_REFUSED = 2


class ImportCommand(BaseCommand):
    """Subclasses set ``run_import`` (a members.imports function) and may add options."""

    run_import = None  # a members.imports function, wrapped in staticmethod

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help=_("CSV file (UTF-8, with or without BOM)."))
        parser.add_argument(
            "--encoding",
            default="utf-8",
            help=_("File encoding: utf-8 (default) or gbk for files saved by Excel in China."),
        )
        parser.add_argument(
            "--errors",
            type=Path,
            metavar="FILE.csv",
            help=_("Also write the bad rows (line, field, reason, value) to this CSV file."),
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help=_("Rows per transaction (1000).")
        )
        parser.add_argument(
            "--no-progress", action="store_true", help=_("Do not show the progress bar.")
        )

    def import_options(self, options) -> dict:
        """Extra keyword arguments for ``run_import``."""
        return {}

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(_("No such file: %(path)s") % {"path": path}, returncode=2)
        bar = tqdm(
            unit=_("rows"),
            file=sys.stderr,
            disable=options["no_progress"] or not sys.stderr.isatty(),
            dynamic_ncols=True,
        )
        with contextlib.ExitStack() as stack:
            stack.callback(bar.close)
            errors_file = None
            if options["errors"]:
                errors_file = stack.enter_context(
                    options["errors"].open("w", encoding="utf-8-sig", newline="")
                )
            errors_csv = ErrorsCsvWriter(errors_file) if errors_file else None

            def on_error(error: RowError) -> None:
                with tqdm.external_write_mode(file=sys.stdout):
                    self.stdout.write(str(error))
                if errors_csv:
                    errors_csv(error)

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            stream = stack.enter_context(path.open("rb"))
            try:
                report: ImportReport = type(self).run_import(
                    stream=stream,
                    encoding=options["encoding"],
                    progress=progress,
                    on_error=on_error,
                    batch_size=max(1, options["batch_size"]),
                    name=path.name,
                    **self.import_options(options),
                )
            except CsvFormatError as exc:
                raise CommandError(
                    _("%(file)s was not imported, nothing was written: %(reason)s")
                    % {"file": path.name, "reason": " ".join(exc.messages)},
                    returncode=EXIT_REFUSED,
                ) from exc
        for warning in report.warnings:
            self.stderr.write(warning)
        self.stdout.write(report.summary())
        self.stdout.write(
            _("%(rate).0f rows/s.") % {"rate": report.rows_per_second}, self.style.HTTP_INFO
        )
        if not report.ok:
            where = _(" See %(file)s.") % {"file": options["errors"]} if options["errors"] else ""
            raise CommandError(
                _("%(n)d bad rows were not imported (listed above).%(where)s")
                % {"n": report.bad_rows, "where": where},
                returncode=EXIT_BAD_ROWS,
            )
