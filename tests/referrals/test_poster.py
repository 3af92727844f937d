"""Invitation posters: the QR code scans back to the referral link; Chinese titles find a CJK
font (the setting, then the usual paths), and without one the poster prints a Latin fallback
title and a warning is logged once, instead of silently leaving the title off."""

import io
import logging

import pytest
import zxingcpp
from PIL import Image, ImageChops

from referrals import poster

LINK = "https://brand.example/r/K7M2QX"


@pytest.fixture(autouse=True)
def _fresh_font_lookup():
    """The font lookup and the warning are cached per process: start each test afresh."""
    poster._cjk_font_find.cache_clear()
    poster._warn_no_cjk_font.cache_clear()
    yield
    poster._cjk_font_find.cache_clear()
    poster._warn_no_cjk_font.cache_clear()


@pytest.fixture
def no_cjk_font(monkeypatch, settings):
    """A machine with no CJK font anywhere."""
    settings.SCRM_REFERRAL_POSTER_FONT = ""
    monkeypatch.setattr(poster, "CJK_FONT_CANDIDATES", ())
    monkeypatch.setattr(poster, "CJK_FONT_PATTERNS", ())


def _image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def _title_band(image: Image.Image) -> Image.Image:
    """The strip above the QR code, where the title is printed."""
    return image.crop((0, 0, poster.WIDTH, poster.TITLE_TOP + 40))


def _is_blank(image: Image.Image) -> bool:
    return (
        ImageChops.difference(image, Image.new("RGB", image.size, poster.PAPER)).getbbox() is None
    )


def test_the_posters_qr_code_decodes_to_the_referral_link():
    image = _image(poster._render(code="K7M2QX", link=LINK, title="Invite friends"))
    found = zxingcpp.read_barcodes(image)
    assert [(r.format, r.text) for r in found] == [(zxingcpp.BarcodeFormat.QRCode, LINK)]


def test_a_long_link_still_decodes_from_the_poster():
    link = "https://brand.example/mp/landing?scene=referral&utm_source=poster&c=K7M2QX"
    image = _image(poster._render(code="K7M2QX", link=link, title=""))
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [link]


def test_the_qr_png_alone_decodes_too():
    assert [r.text for r in zxingcpp.read_barcodes(_image(poster.qr_png(LINK)))] == [LINK]


def test_the_configured_font_comes_first(settings, tmp_path, monkeypatch):
    font = tmp_path / "brand.ttc"
    font.write_bytes(b"font")
    other = tmp_path / "other.ttc"
    other.write_bytes(b"font")
    monkeypatch.setattr(poster, "CJK_FONT_CANDIDATES", (str(other),))
    settings.SCRM_REFERRAL_POSTER_FONT = str(font)
    assert poster.cjk_font_path() == str(font)


def test_a_missing_configured_font_falls_back_to_common_paths(
    settings, tmp_path, monkeypatch, caplog
):
    installed = tmp_path / "wqy-microhei.ttc"
    installed.write_bytes(b"font")
    monkeypatch.setattr(
        poster, "CJK_FONT_CANDIDATES", (str(tmp_path / "absent.ttc"), str(installed))
    )
    settings.SCRM_REFERRAL_POSTER_FONT = str(tmp_path / "typo.ttf")
    with caplog.at_level(logging.WARNING, logger="referrals.poster"):
        assert poster.cjk_font_path() == str(installed)
    assert "SCRM_REFERRAL_POSTER_FONT" in caplog.text


def test_fonts_are_also_found_by_name_under_font_folders(settings, tmp_path, monkeypatch):
    font = tmp_path / "opentype" / "noto" / "NotoSansCJK-Regular.ttc"
    font.parent.mkdir(parents=True)
    font.write_bytes(b"font")
    settings.SCRM_REFERRAL_POSTER_FONT = ""
    monkeypatch.setattr(poster, "CJK_FONT_CANDIDATES", ())
    monkeypatch.setattr(poster, "CJK_FONT_PATTERNS", (str(tmp_path / "**" / "NotoSansCJK*"),))
    assert poster.cjk_font_path() == str(font)


def test_without_a_cjk_font_a_chinese_title_becomes_a_latin_one_and_warns_once(no_cjk_font, caplog):
    untitled = _image(poster._render(code="K7M2QX", link=LINK, title=""))
    assert _is_blank(_title_band(untitled))
    with caplog.at_level(logging.WARNING, logger="referrals.poster"):
        first = _image(poster._render(code="K7M2QX", link=LINK, title="邀请好友得积分"))
        poster._render(code="ABCDEF", link=LINK, title="新人专享")
    # Something is printed where the title goes: the Latin fallback, the same as asking for it.
    assert not _is_blank(_title_band(first))
    fallback = _image(poster._render(code="K7M2QX", link=LINK, title=poster.FALLBACK_TITLE))
    assert ImageChops.difference(first, fallback).getbbox() is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "fonts-wqy-microhei" in warnings[0].getMessage()
    # The QR code is whole all the same.
    assert [r.text for r in zxingcpp.read_barcodes(first)] == [LINK]


def test_an_ascii_title_needs_no_cjk_font_and_no_warning(no_cjk_font, caplog):
    with caplog.at_level(logging.WARNING, logger="referrals.poster"):
        image = _image(poster._render(code="K7M2QX", link=LINK, title="Invite friends"))
    assert not _is_blank(_title_band(image)) and not caplog.records


def test_a_chinese_title_is_drawn_with_a_cjk_font_when_there_is_one(settings, caplog):
    settings.SCRM_REFERRAL_POSTER_FONT = ""
    path = poster.cjk_font_path()
    if path is None:
        pytest.skip("no CJK font on this machine (the Dockerfile installs fonts-wqy-microhei)")
    with caplog.at_level(logging.WARNING, logger="referrals.poster"):
        chinese = _image(poster._render(code="K7M2QX", link=LINK, title="邀请好友得积分"))
    fallback = _image(poster._render(code="K7M2QX", link=LINK, title=poster.FALLBACK_TITLE))
    assert not caplog.records
    assert not _is_blank(_title_band(chinese))
    assert ImageChops.difference(_title_band(chinese), _title_band(fallback)).getbbox()
    assert [r.text for r in zxingcpp.read_barcodes(chinese)] == [LINK]


def test_a_long_title_is_shrunk_to_fit_the_poster(no_cjk_font):
    title = "Invite your friends and both of you get points for the first order"
    image = _image(poster._render(code="K7M2QX", link=LINK, title=title))
    band = _title_band(image)
    left, _top, right, _bottom = ImageChops.difference(
        band, Image.new("RGB", band.size, poster.PAPER)
    ).getbbox()
    assert left > 0 and right < poster.WIDTH
