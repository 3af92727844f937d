"""The groups app's settings (SCRM_GROUP_*, docs/configuration.md), read at call time so
tests and operators can change them without a reload."""

from __future__ import annotations

from django.conf import settings

# WeCom external customer groups hold 500 members (FACTS.md).
DEFAULT_CAPACITY = 500
MAX_CAPACITY = 10_000


def default_capacity() -> int:
    """Seats of a new group: SCRM_GROUP_DEFAULT_CAPACITY (500, the WeCom customer-group size)."""
    return min(
        max(int(getattr(settings, "SCRM_GROUP_DEFAULT_CAPACITY", DEFAULT_CAPACITY)), 1),
        MAX_CAPACITY,
    )


def join_link_template() -> str:
    """The page a join code's QR opens, with ``{code}`` in it."""
    return getattr(settings, "SCRM_GROUP_JOIN_LINK_TEMPLATE", "https://example.com/g/{code}")


def code_length() -> int:
    return min(max(int(getattr(settings, "SCRM_GROUP_CODE_LENGTH", 6)), 5), 12)


def dissolve_notice_hours() -> int:
    """How long before a flash group's end its members are told (0: not told beforehand)."""
    return max(int(getattr(settings, "SCRM_GROUP_DISSOLVE_NOTICE_HOURS", 24)), 0)
