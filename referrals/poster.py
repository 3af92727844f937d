"""QR codes and invitation posters (PNG) that carry a referral code.

The QR code is made by segno (pure Python); the poster is composed with Pillow: an optional
title, the QR code of the referral link, the code in large letters and the link. Chinese
titles need a font with CJK glyphs: SCRM_REFERRAL_POSTER_FONT names one (a .ttf/.otf/.ttc);
without it the usual Noto CJK / WenQuanYi paths are tried, and if none is installed a title
that is not plain ASCII is left off (the code and link are ASCII and always printed).
"""

from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import segno
from django.conf import settings
from django.core.cache import cache
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 600, 780
QR_SIZE = 420
INK = (33, 33, 33)
ACCENT = (200, 40, 60)
PAPER = (255, 255, 255)
CACHE_SECONDS = 24 * 3600
CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)


def qr_png(link: str, *, scale: int = 10) -> bytes:
    """The link as a QR code PNG (error correction M: survives a crease or a smudge)."""
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def qr_svg(link: str) -> str:
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="svg", scale=4, border=2)
    return out.getvalue().decode()


@functools.cache
def cjk_font_path() -> str | None:
    """A font file with CJK glyphs, if this machine has one."""
    configured = getattr(settings, "SCRM_REFERRAL_POSTER_FONT", "")
    for candidate in ([configured] if configured else []) + list(CJK_FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def _font(size: int, *, cjk: bool):
    path = cjk_font_path() if cjk else None
    if path:
        return ImageFont.truetype(path, size)
    # Pillow's bundled font: Latin letters and digits only.
    return ImageFont.load_default(size=size)


def _centred(draw: ImageDraw.ImageDraw, y: int, text: str, font, fill) -> int:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((WIDTH - (right - left)) / 2 - left, y - top), text, font=font, fill=fill)
    return y + (bottom - top)


def poster_png(*, code: str, link: str, title: str = "") -> bytes:
    """An invitation poster; cached for a day per (code, link, title)."""
    key = "referral-poster:" + hashlib.sha256(f"{code}|{link}|{title}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is not None:
        return cached
    png = _render(code=code, link=link, title=title)
    cache.set(key, png, CACHE_SECONDS)
    return png


def _render(*, code: str, link: str, title: str) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    y = 48
    if title and (title.isascii() or cjk_font_path()):
        y = _centred(draw, y, title, _font(40, cjk=not title.isascii()), ACCENT) + 36
    else:
        y += 40
    # A whole number of pixels per module keeps every module the same size (easier to scan).
    symbol = segno.make(link, error="m", micro=False)
    scale = max(QR_SIZE // symbol.symbol_size(scale=1, border=2)[0], 1)
    qr = Image.open(io.BytesIO(qr_png(link, scale=scale))).convert("RGB")
    image.paste(qr, ((WIDTH - qr.width) // 2, y))
    y += qr.height + 36
    y = _centred(draw, y, " ".join(code), _font(60, cjk=False), INK) + 28
    _centred(draw, y, link, _font(18, cjk=False), (110, 110, 110))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
