"""Reading CSV files for imports: encodings, format checks, and rows with their line numbers.

A file is read twice, both times streaming: a first pass checks that every line decodes and
parses as CSV (so a file in the wrong encoding, a binary file or a workbook is refused before
anything is written), the second pass yields the rows. Neither pass holds the file in memory.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# Python's "gbk" cannot decode every byte Excel writes in "ANSI" on Chinese Windows; GB18030 is
# a strict superset of GBK and GB2312, so those names all decode as GB18030.
ENCODINGS = {
    "utf-8": "utf-8-sig",
    "utf8": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "cp936": "gb18030",
    "gb18030": "gb18030",
}

# Magic numbers of files people upload instead of a CSV.
_SIGNATURES = {
    b"PK\x03\x04": "xlsx",
    b"\xd0\xcf\x11\xe0": "xls",
    b"\xff\xfe": "utf-16",
    b"\xfe\xff": "utf-16",
}

# Uploads that cannot seek are copied to a temporary file (kept in memory up to this size).
_SPOOL_IN_MEMORY = 16 * 1024 * 1024


class CsvFormatError(ValidationError):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass
class CsvSource:
    """An opened, checked CSV file: its columns and how many data rows it holds."""

    binary: BinaryIO
    encoding: str
    columns: list[str]
    rows_total: int
    ignored_columns: list[str] = field(default_factory=list)


def normalise_header(name: str, aliases: dict[str, str]) -> str:
    """Lower-case a column name, spaces to underscores, and map Chinese aliases to our names."""
    key = name.replace("\ufeff", "").strip().lower().replace(" ", "_").replace("-", "_")
    return aliases.get(key, key)


def _decoded_lines(binary: BinaryIO, encoding: str) -> Iterator[str]:
    """Decode the file line by line. "\\n" never occurs inside a UTF-8 or GB18030 character,
    so splitting the bytes on it is safe, and a decoding error carries its exact line."""
    for number, raw in enumerate(binary, start=1):
        if b"\x00" in raw:
            raise CsvFormatError(
                _("Line %(line)d contains a NUL byte: this looks like a binary file, not a CSV.")
                % {"line": number},
                code="binary",
            )
        try:
            yield raw.decode(encoding)
        except UnicodeDecodeError as exc:
            hint = ""
            if encoding.startswith("utf-8"):
                hint = " " + _(
                    "If the file was saved by Excel on Chinese Windows, import it with "
                    "encoding GBK (--encoding gbk)."
                )
            raise CsvFormatError(
                _("Line %(line)d is not valid %(encoding)s text.")
                % {"line": number, "encoding": encoding.upper().removesuffix("-SIG")}
                + hint,
                code="encoding",
            ) from exc


def _seekable(stream) -> BinaryIO:
    if isinstance(stream, io.TextIOBase):
        raise TypeError("Pass the file opened in binary mode ('rb').")
    if getattr(stream, "seekable", lambda: False)():
        return stream
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    shutil.copyfileobj(stream, spool)
    spool.seek(0)
    return spool


def _records(binary: BinaryIO, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the file line each starts on (quoted fields may span lines)."""
    binary.seek(0)
    reader = csv.reader(_decoded_lines(binary, encoding))
    previous = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFormatError(
                _("Line %(line)d is not valid CSV: %(error)s")
                % {"line": reader.line_num, "error": exc},
                code="csv",
            ) from exc
        start, previous = previous + 1, reader.line_num
        yield start, record


def csv_open(
    stream,
    *,
    encoding: str,
    known_columns: Iterable[str],
    required: Iterable[str] = (),
    required_any: Iterable[str] = (),
    aliases: dict[str, str] | None = None,
) -> CsvSource:
    """Check a CSV file from end to end and return it ready to read; raises CsvFormatError.

    ``required`` columns must all be present, at least one of ``required_any`` must be.
    Columns we do not know are ignored and listed in ``ignored_columns``.
    """
    codec = ENCODINGS.get((encoding or "utf-8").lower())
    if codec is None:
        raise CsvFormatError(
            _("Unsupported encoding “%(encoding)s”; use UTF-8 or GBK.") % {"encoding": encoding},
            code="encoding",
        )
    binary = _seekable(stream)
    binary.seek(0)
    head = binary.read(4)
    for signature, kind in _SIGNATURES.items():
        if head.startswith(signature):
            raise CsvFormatError(
                _(
                    "This is a %(kind)s file, not a CSV. In Excel, use Save As → "
                    "“CSV UTF-8 (comma delimited)”."
                )
                % {"kind": kind.upper()},
                code="not_csv",
            )
    records = _records(binary, codec)
    first = next(records, None)
    if first is None or not any(cell.strip() for cell in first[1]):
        raise CsvFormatError(_("The file is empty: the first line must name the columns."))
    columns = [normalise_header(name, aliases or {}) for name in first[1]]
    duplicates = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicates:
        raise CsvFormatError(
            _("Columns appear more than once: %(columns)s.") % {"columns": ", ".join(duplicates)}
        )
    present = set(columns)
    missing = [c for c in required if c not in present]
    any_of = list(required_any)
    if any_of and not present.intersection(any_of):
        missing.append(" / ".join(any_of))
    if missing:
        raise CsvFormatError(
            _("Required columns are missing: %(missing)s. The first line reads: %(header)s.")
            % {"missing": ", ".join(missing), "header": ", ".join(first[1])},
            code="missing_columns",
        )
    rows_total = sum(1 for _line, record in records if any(cell.strip() for cell in record))
    known = set(known_columns)
    return CsvSource(
        binary=binary,
        encoding=codec,
        columns=columns,
        rows_total=rows_total,
        ignored_columns=[c for c in columns if c and c not in known],
    )


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Lists of up to ``size`` items (itertools.batched arrives in Python 3.12)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_rows(source: CsvSource) -> Iterator[tuple[int, dict[str, str], str | None]]:
    """Yield (line, {column: stripped value}, problem) for every non-blank data row.

    ``problem`` is set when the row has more values than the header has columns; a short row
    is padded with empty values, as spreadsheets drop trailing empty cells.
    """
    width = len(source.columns)
    records = _records(source.binary, source.encoding)
    next(records)  # the header, checked by csv_open
    for line, record in records:
        if not any(cell.strip() for cell in record):
            continue
        problem = None
        if len(record) > width:
            if any(cell.strip() for cell in record[width:]):
                problem = _("The row has %(n)d values but the header names %(m)d columns.") % {
                    "n": len(record),
                    "m": width,
                }
            record = record[:width]
        values = dict(zip(source.columns, (cell.strip() for cell in record), strict=False))
        for column in source.columns[len(record) :]:
            values[column] = ""
        yield line, values, problem
