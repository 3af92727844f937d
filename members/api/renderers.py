"""A JSON renderer that passes through JSON text the database already wrote.

The member list's page comes from PostgreSQL as JSON text, byte for byte what DRF's
JSONRenderer makes of MemberSerializer's output (members.api.member_json): parsing it into
Python only for the renderer to encode it again cost more than the page's statement.
"""

from __future__ import annotations

import json
import re

from rest_framework.renderers import JSONRenderer


class RawJSON:
    """A value given as JSON in UTF-8 bytes, compact and unescaped as JSONRenderer writes it."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data


# JSONRenderer escapes the two line separators so that its output is also valid JavaScript.
_SEPARATORS = re.compile(b"\xe2\x80[\xa8\xa9]")  # U+2028, U+2029 in UTF-8
_ESCAPES = {"\u2028".encode(): b"\\u2028", "\u2029".encode(): b"\\u2029"}


def _escaped(data: bytes) -> bytes:
    if _SEPARATORS.search(data) is None:  # a regex: faster than `in` over UTF-8 text
        return data
    return _SEPARATORS.sub(lambda match: _ESCAPES[match.group()], data)


class RawJSONRenderer(JSONRenderer):
    """JSONRenderer, splicing in the RawJSON values that end a response's dict (a page's
    ``results``). Anything else, or pretty-printed output (``indent``, the browsable API), is
    parsed and rendered as usual."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if not isinstance(data, dict) or not any(isinstance(v, RawJSON) for v in data.values()):
            return super().render(data, accepted_media_type, renderer_context)
        keys = list(data)
        plain = {k: v for k, v in data.items() if not isinstance(v, RawJSON)}
        splice = (
            self.get_indent(accepted_media_type, renderer_context or {}) is None
            and self.compact
            and not self.ensure_ascii
            and keys[: len(plain)] == list(plain)
        )
        if not splice:
            parsed = {
                key: json.loads(value.data) if isinstance(value, RawJSON) else value
                for key, value in data.items()
            }
            return super().render(parsed, accepted_media_type, renderer_context)
        head = super().render(plain, accepted_media_type, renderer_context)[:-1]
        parts = [head]
        for key in keys[len(plain) :]:
            if len(parts) > 1 or plain:
                parts.append(b",")
            parts.append(super().render(key, accepted_media_type, renderer_context) + b":")
            parts.append(_escaped(data[key].data))
        parts.append(b"}")
        return b"".join(parts)
