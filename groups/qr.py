"""QR images of a join code's link, made with segno (pure Python): PNG for printing and chat,
SVG for designers (scales without blur). Error correction M survives a crease or a smudge."""

from __future__ import annotations

import io

import segno

PNG_SCALE = 10
SVG_SCALE = 4
BORDER = 2


def qr_png(link: str, *, scale: int = PNG_SCALE) -> bytes:
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(out, kind="png", scale=scale, border=BORDER)
    return out.getvalue()


def qr_svg(link: str, *, scale: int = SVG_SCALE) -> bytes:
    out = io.BytesIO()
    segno.make(link, error="m", micro=False).save(
        out, kind="svg", scale=scale, border=BORDER, xmldecl=True
    )
    return out.getvalue()
