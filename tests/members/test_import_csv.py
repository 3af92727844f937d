"""CSV files as a whole: encodings, BOM, binary files and missing columns are refused up front."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from members.imports import CsvFormatError, members_import_csv, orders_import_csv
from members.models import AuditLog, Member

pytestmark = pytest.mark.django_db


def _members(data: bytes, **kwargs):
    return members_import_csv(stream=io.BytesIO(data), **kwargs)


def _nothing_written():
    return not Member.objects.exists() and not AuditLog.objects.exists()


def test_utf8_with_bom_is_read():
    report = _members("\ufeffphone,name\n13812345678,张三\n".encode())
    assert report.created == 1
    assert Member.objects.get().name == "张三"


def test_gbk_file_needs_the_encoding_and_then_imports():
    data = "手机号,姓名,城市\r\n13812345678,张三,上海\r\n".encode("gbk")
    with pytest.raises(CsvFormatError) as err:
        _members(data)
    assert "GBK" in err.value.messages[0]
    assert _nothing_written()
    report = _members(data, encoding="gbk")
    assert report.created == 1
    assert (Member.objects.get().name, Member.objects.get().city) == ("张三", "上海")


def test_wrong_encoding_late_in_the_file_writes_nothing():
    rows = "".join(f"1380000{i:04d},会员{i}\n" for i in range(2500))
    data = ("phone,name\n" + rows).encode() + "13900000000,张三\n".encode("gbk")
    with pytest.raises(CsvFormatError) as err:
        _members(data, batch_size=100)
    assert "2502" in err.value.messages[0]
    assert _nothing_written()


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04\x14\x00\x06\x00rest-of-a-workbook",
        b"phone,name\n138\x0012345678,x\n",
        "phone,name\n".encode("utf-16"),
        b"",
        b"\n\n",
    ],
    ids=["xlsx", "nul-byte", "utf-16", "empty", "blank-lines"],
)
def test_files_that_are_not_csv_are_refused(data):
    with pytest.raises(CsvFormatError):
        _members(data)
    assert _nothing_written()


def test_missing_required_columns_are_named():
    with pytest.raises(CsvFormatError) as err:
        _members("name,city\n张三,上海\n".encode())
    assert "phone" in err.value.messages[0]
    with pytest.raises(CsvFormatError) as err:
        orders_import_csv(stream=io.BytesIO(b"external_id,member_phone\nA1,13812345678\n"))
    assert "paid_amount" in err.value.messages[0] and "paid_at" in err.value.messages[0]
    assert _nothing_written()


def test_unknown_columns_are_ignored_with_a_warning():
    report = _members(b"phone,nickname\n13812345678,x\n")
    assert report.created == 1
    assert "nickname" in report.warnings[0]


def test_unclosed_quote_is_a_format_error():
    with pytest.raises(CsvFormatError):
        _members(b'phone,name\n13812345678,"unclosed\n' + b"x" * 200_000 + b"\n")
    assert _nothing_written()


def test_command_exit_codes_and_errors_file(tmp_path, capsys):
    good = tmp_path / "members.csv"
    good.write_text("phone,name\n13812345678,a\nbad,b\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    # The report is in the operator's language; this test reads the English one.
    with translation.override("en"), pytest.raises(CommandError) as err:
        call_command("import_members", str(good), "--errors", str(errors), "--no-progress")
    assert err.value.returncode == 1
    out = capsys.readouterr().out
    assert "line 3 [phone]" in out
    assert "1 created" in out
    written = errors.read_text(encoding="utf-8-sig").splitlines()
    assert written[0] == "line,field,reason,value"
    assert written[1].startswith("3,phone,")
    assert Member.objects.count() == 1

    broken = tmp_path / "broken.csv"
    broken.write_bytes("手机号\n13912345678\n".encode("gbk"))
    with translation.override("en"), pytest.raises(CommandError) as err:
        call_command("import_members", str(broken), "--no-progress")
    assert err.value.returncode == 2
    assert "nothing was written" in str(err.value)
    call_command("import_members", str(broken), "--encoding", "gbk", "--no-progress")
    assert Member.objects.count() == 2


def test_uploaded_files_and_unseekable_streams_are_read():
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("members.csv", b"phone\n13812345678\n", content_type="text/csv")
    assert members_import_csv(stream=upload).created == 1

    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self._data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    assert members_import_csv(stream=Pipe(b"phone\n13912345678\n")).created == 1
    assert Member.objects.count() == 2
