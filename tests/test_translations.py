"""zh-hans is a first-class language: every catalogue is fully translated, has no fuzzy entry,
and the compiled .mo that Django serves says what its .po says (a .po edited without
compilemessages would ship English, or stale Chinese, to users)."""

import ast
import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CATALOGUES = sorted(ROOT.glob("*/locale/zh_Hans/LC_MESSAGES/django.po")) + [
    ROOT / "locale/zh_Hans/LC_MESSAGES/django.po"
]


def _po_catalogue(path: Path) -> tuple[dict, list[str]]:
    """The .po's translations keyed as gettext keys them in a .mo (plural forms as
    ``(msgid, n)``, a context as ``ctxt\\x04msgid``), and the msgids left untranslated."""
    catalogue, untranslated = {}, []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = None
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$', line)
            if match:
                current = match.group(1)
                fields[current] = ast.literal_eval(match.group(2))
            elif line.startswith('"') and current:
                fields[current] += ast.literal_eval(line)
        if not fields.get("msgid"):
            continue  # the header, or a comment-only block
        msgid = fields["msgid"]
        if "msgctxt" in fields:
            msgid = f"{fields['msgctxt']}\x04{msgid}"
        if "msgid_plural" in fields:
            forms = {k: v for k, v in fields.items() if k.startswith("msgstr[")}
            if not all(forms.values()):
                untranslated.append(msgid)
            for key, value in forms.items():
                catalogue[(msgid, int(key[7:-1]))] = value
        elif fields.get("msgstr"):
            catalogue[msgid] = fields["msgstr"]
        else:
            untranslated.append(msgid)
    return catalogue, untranslated


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_catalogue_is_translated_and_compiled(po):
    text = po.read_text(encoding="utf-8")
    expected, untranslated = _po_catalogue(po)
    assert not untranslated
    assert "#, fuzzy" not in text
    with po.with_suffix(".mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    compiled.pop("", None)  # the header
    assert compiled == expected


def test_the_parser_reads_what_it_checks(tmp_path):
    """The check above is only as good as its reading of a .po: a plural, a context and a
    wrapped message come out keyed the way the .mo keys them."""
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: zh_Hans\\n"\n\n'
        'msgid "one"\nmsgstr "一"\n\n'
        'msgctxt "month"\nmsgid "May"\nmsgstr "五月"\n\n'
        'msgid ""\n"wrapped "\n"text"\nmsgstr ""\n"换行"\n"文本"\n\n'
        '#, python-format\nmsgid "%(n)d member"\nmsgid_plural "%(n)d members"\n'
        'msgstr[0] "%(n)d 位会员"\n\n'
        'msgid "missing"\nmsgstr ""\n',
        encoding="utf-8",
    )
    catalogue, untranslated = _po_catalogue(po)
    assert catalogue == {
        "one": "一",
        "month\x04May": "五月",
        "wrapped text": "换行文本",
        ("%(n)d member", 0): "%(n)d 位会员",
    }
    assert untranslated == ["missing"]


APPS = ("members", "groups", "referrals", "campaigns", "workspace", "scrm")


@pytest.mark.skipif(not shutil.which("xgettext"), reason="needs GNU gettext (xgettext)")
def test_every_message_in_the_code_is_in_a_catalogue(tmp_path):
    """Extract the messages afresh (makemessages on a copy of the code) and find each one,
    translated, in the catalogue Django will read it from: a string added without running
    makemessages would otherwise reach zh-hans users in English."""
    copy = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo")
    for app in APPS:
        shutil.copytree(ROOT / app, copy / app, ignore=ignore)
    shutil.copytree(ROOT / "locale", copy / "locale", ignore=ignore)
    shutil.copy(ROOT / "manage.py", copy / "manage.py")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "scrm.settings", "PYTHONPATH": str(copy)}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    fresh_catalogues = sorted(copy.glob("*/zh_Hans/LC_MESSAGES/django.po")) + sorted(
        copy.glob("*/locale/zh_Hans/LC_MESSAGES/django.po")
    )
    assert len(fresh_catalogues) == len(CATALOGUES)
    missing = {}
    for fresh in fresh_catalogues:
        # The copy started from our catalogues, so whatever the fresh extraction leaves
        # untranslated or only fuzzily matched is a message our catalogues lack.
        text = fresh.read_text(encoding="utf-8")
        catalogue, untranslated = _po_catalogue(fresh)
        assert len(catalogue) > 100, fresh  # the extraction did run
        fuzzy = [b for b in text.split("\n\n") if "#, fuzzy" in b]
        if untranslated or fuzzy:
            missing[str(fresh.relative_to(copy))] = untranslated + fuzzy
    assert not missing
