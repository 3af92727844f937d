"""QR codes and invitation posters (PNG) that carry a referral code.

The QR code is made by segno (pure Python); the poster is composed with Pillow: a title, the QR
code of the referral link, the code in large letters and the link. Chinese titles need a font
with CJK glyphs: SCRM_REFERRAL_POSTER_FONT names one (a .ttf/.otf/.ttc); without it the usual
Noto CJK / Source Han / WenQuanYi / Droid fallback paths are tried (the production image
installs fonts-wqy-microhei). With none, the poster says FALLBACK_TITLE instead, in Latin
letters, and a warning is logged once per process: a poster with a hole where its title
should be is not sent out silently. The code and the link are ASCII and always printed.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import io
import logging
from pathlib import Path

import segno
from django.conf import settings
from django.core.cache import cache
from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

WIDTH, HEIGHT = 600, 780
QR_SIZE = 420
QR_BORDER = 2
INK = (33, 33, 33)
ACCENT = (200, 40, 60)
PAPER = (255, 255, 255)
CACHE_SECONDS = 24 * 3600
TITLE_TOP = 48
FALLBACK_TITLE = "Scan to join"
CJK_FONT_CANDIDATES = (
    # Debian/Ubuntu fonts-noto-cjk, fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-*
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    # Fedora/RHEL, Arch, Alpine
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/adobe-source-han-sans/SourceHanSansCN-Regular.otf",
    # macOS, Windows (a developer's machine)
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
# Elsewhere under the usual font folders, by file name.
CJK_FONT_PATTERNS = (
    "/usr/share/fonts/**/NotoSansCJK*",
    "/usr/share/fonts/**/NotoSansSC*",
    "/usr/share/fonts/**/SourceHanSans*",
    "/usr/share/fonts/**/wqy-*",
    "/usr/share/fonts/**/DroidSansFallback*",
    "/usr/local/share/fonts/**/*CJK*",
)


def qr_png(link: str, *, scale: int = 10) -> bytes:
    """The link as a QR code PNG (error correction M: survives a crease or a smudge)."""
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="png", scale=scale, border=QR_BORDER)
    return out.getvalue()


def qr_scale(link: str) -> int:
    """Pixels per module on the poster: a whole number keeps every module the same size
    (easier to scan), as large as fits QR_SIZE."""
    symbol = segno.make(link, error="m", micro=False)
    return max(QR_SIZE // symbol.symbol_size(scale=1, border=QR_BORDER)[0], 1)


def qr_image(link: str) -> Image.Image:
    """The QR code exactly as the poster prints it."""
    return Image.open(io.BytesIO(qr_png(link, scale=qr_scale(link)))).convert("RGB")


def qr_position(qr: Image.Image, y: int) -> tuple[int, int]:
    return (WIDTH - qr.width) // 2, y


def qr_svg(link: str) -> str:
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="svg", scale=4, border=2)
    return out.getvalue().decode()


def cjk_font_path() -> str | None:
    """A font file with CJK glyphs: SCRM_REFERRAL_POSTER_FONT if it is a file, else the first
    of the common paths found on this machine; None if there is none."""
    return _cjk_font_find(str(getattr(settings, "SCRM_REFERRAL_POSTER_FONT", "") or ""))


@functools.cache
def _cjk_font_find(configured: str) -> str | None:
    if configured:
        if Path(configured).is_file():
            return configured
        logger.warning(
            "SCRM_REFERRAL_POSTER_FONT is %r, which is not a file; trying the usual CJK fonts",
            configured,
        )
    for candidate in CJK_FONT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    for pattern in CJK_FONT_PATTERNS:
        found = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if found:
            return found[0]
    return None


@functools.cache
def _face_index(path: str) -> int:
    """In a collection (.ttc) holding regional faces (Noto Sans CJK: JP, KR, SC, TC, HK), the
    Simplified Chinese one; 0 otherwise."""
    if not path.lower().endswith(".ttc"):
        return 0
    for index in range(10):
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0] or ""
        except OSError:
            break
        if family.endswith(" SC"):
            return index
    return 0


@functools.cache
def _warn_no_cjk_font() -> None:
    """Said once per process: every poster after it would say the same."""
    logger.warning(
        "No CJK font found for referral poster titles: printing %r instead. Install "
        "fonts-wqy-microhei or fonts-noto-cjk, or set SCRM_REFERRAL_POSTER_FONT.",
        FALLBACK_TITLE,
    )


def _font(size: int, *, cjk: bool):
    path = cjk_font_path() if cjk else None
    if path:
        return ImageFont.truetype(path, size, index=_face_index(path))
    # Pillow's bundled font: Latin letters and digits only.
    return ImageFont.load_default(size=size)


def _title(title: str) -> tuple[str, bool]:
    """What to print as the title, and whether it needs the CJK font."""
    if title.isascii():
        return title, False
    if cjk_font_path():
        return title, True
    _warn_no_cjk_font()
    return FALLBACK_TITLE, False


def _fitting_font(draw: ImageDraw.ImageDraw, text: str, *, cjk: bool, size: int = 40):
    """The title's font at 40 px, smaller for a long title (40 Chinese characters fit)."""
    while True:
        font = _font(size, cjk=cjk)
        left, _top, right, _bottom = draw.textbbox((0, 0), text, font=font)
        if right - left <= WIDTH - 40 or size <= 12:
            return font
        size -= 2


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
    y = TITLE_TOP
    if title:
        text, cjk = _title(title)
        y = _centred(draw, y, text, _fitting_font(draw, text, cjk=cjk), ACCENT) + 36
    else:
        y += 40
    qr = qr_image(link)
    image.paste(qr, qr_position(qr, y))
    y += qr.height + 36
    y = _centred(draw, y, " ".join(code), _font(60, cjk=False), INK) + 28
    _centred(draw, y, link, _font(18, cjk=False), (110, 110, 110))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
