"""Small helpers shared by the demo generator's parts."""

from __future__ import annotations

from bisect import bisect
from datetime import UTC, datetime
from decimal import Decimal
from itertools import accumulate

DAY = 86400.0


class Weighted:
    """Weighted choice with a precomputed cumulative table (random.choices rebuilds it)."""

    def __init__(self, pairs):
        pairs = list(pairs)
        self.values = [value for value, _weight in pairs]
        self.cumulative = list(accumulate(weight for _value, weight in pairs))
        self.total = self.cumulative[-1]

    def pick(self, random_value: float):
        return self.values[bisect(self.cumulative, random_value * self.total)]


def money(cents: int) -> Decimal:
    """12345 -> Decimal("123.45"), exact."""
    return Decimal(cents).scaleb(-2)


def ts(value: float) -> datetime:
    """A POSIX timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)
