"""Generating demo members with their orders, points, coupons, tags and consents.

Everything comes from one random.Random(seed) consumed member after member, so the same seed
gives the same names, phones, orders and amounts whatever the chunking. Times are offsets from
an anchor (today 00:00 in the project's time zone), so a re-run on another day shifts dates
but nothing else. Money is handled in integer cents, so totals are exact.
"""

from __future__ import annotations

import base64
import functools
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from members.choices import OrderStatus
from members.demo import data
from members.demo.ledger import LedgerMixin
from members.demo.profile import ProfileMixin
from members.demo.util import DAY, Weighted, money, ts

HISTORY_DAYS = 730  # orders over the past two years
JOIN_DAYS = 900  # members joined over the past two and a half years
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CODE = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # as members.services.benefits.CODE_ALPHABET
_MONEY_MU = math.log(200)  # order amounts: log-normal around 200 yuan


@dataclass
class Reference:
    """Ids of the reference rows the members hang on."""

    store_ids: list[int]
    stores_by_city: dict[str, list[int]]
    guides_by_store: dict[int, list[tuple[int, int]]]  # store id -> [(guide id, user id)]
    tiers: list[tuple[int, int]]  # (tier id, minimum total paid in cents), highest first
    tags: dict[str, dict[str, int]]  # group name -> tag name -> tag id
    templates: list[tuple[int, int, int, int]]  # (id, value, threshold in cents, valid days)


@dataclass
class Rows:
    """Rows for each table, as tuples in the order members.demo.seed writes them."""

    members: list = field(default_factory=list)
    orders: list = field(default_factory=list)
    points: list = field(default_factory=list)
    coupons: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    consents: list = field(default_factory=list)
    events: list = field(default_factory=list)


class DemoGenerator(LedgerMixin, ProfileMixin):
    """Makes members one after the other; ``generate(count)`` returns their rows."""

    def __init__(
        self,
        *,
        seed,
        ref: Reference,
        anchor: datetime,
        now: datetime,
        ids,
        rules,
        order_frequency: float = 1.0,
    ):
        self.rng = random.Random(seed)
        # How much more often than the natural rhythm buyers come back (order_frequency_for
        # finds the factor for an average number of orders). 1.0 keeps every draw as it was.
        self.order_frequency = order_frequency
        self.ref = ref
        self.anchor = anchor.timestamp()
        self.anchor_date = anchor.date()
        self.now = now
        self.member_id, self.order_id = ids
        self.rate, self.valid_days, self.with_events = rules
        self.number = 0  # members made so far: phones, ids and codes derive from it
        self.order_number = 0
        self.coupon_number = 0
        self.surnames = Weighted(data.SURNAMES)
        self.cities = Weighted([((p, c), w) for p, c, w in data.CITIES])
        self.sources = Weighted(data.SOURCES)
        # Bijections of the counters, so ids and codes look random but never repeat.
        self.phone_mult = self.rng.randrange(10**7, 10**8) | 1
        while self.phone_mult % 5 == 0:  # coprime with 10**8: odd, not a multiple of 5
            self.phone_mult += 2
        self.phone_offset = self.rng.randrange(10**8)
        self.code_offset = self.rng.randrange(31**10)
        self.reasons = {
            "earn": _("Order %s"),
            "spend": _("Points redeemed"),
            "expire": _("Points expired"),
        }

    def generate(self, count: int) -> Rows:
        rows = Rows()
        for _i in range(count):
            self._member(rows)
        return rows

    # --- identities -----------------------------------------------------------------------

    def _phone(self) -> str:
        # The 8 digits after the prefix are a bijection of the member number: unique for the
        # first 10**8 members whatever prefix the random draw gives.
        suffix = (self.number * self.phone_mult + self.phone_offset) % 10**8
        return f"+86{self.rng.choice(data.PHONE_PREFIXES)}{suffix:08d}"

    def _token(self, kind: int, length: int) -> str:
        """A WeChat-looking id: 8 characters unique per member and kind, then random ones."""
        n = (self.number * 2654435761 + kind * 7_777_777_777) % 62**8
        head = "".join(_B62[n // 62**i % 62] for i in range(8))
        tail = base64.urlsafe_b64encode(self.rng.getrandbits(192).to_bytes(24, "big"))
        return head + tail[: length - 8].decode()

    def _coupon_code(self) -> str:
        n = (self.coupon_number * 2654435761 + self.code_offset) % 31**10
        self.coupon_number += 1
        return "".join(_CODE[n // 31**i % 31] for i in range(10))

    # --- one member -----------------------------------------------------------------------

    def _member(self, rows: Rows) -> None:
        rng, r = self.rng, self.rng.random
        member_id = self.member_id
        self.member_id += 1
        g = r()
        gender = "female" if g < 0.78 else "male" if g < 0.96 else "unknown"
        chars = data.GIVEN_MALE if gender == "male" else data.GIVEN_FEMALE
        if gender == "unknown" and r() < 0.5:
            chars = data.GIVEN_MALE
        surname = self.surnames.pick(r())
        name = surname + rng.choice(chars) + (rng.choice(chars) if r() < 0.65 else "")
        birthday = None
        if r() < 0.7:
            age = max(18.0, min(65.0, rng.gauss(31, 8)))
            birthday = self.anchor_date - timedelta(days=int(age * 365.25))
        province, city = self.cities.pick(r())
        source = self.sources.pick(r())
        joined = self.anchor - (r() ** 1.4) * JOIN_DAYS * DAY - r() * DAY
        in_store = source in data.IN_STORE_SOURCES
        local = self.ref.stores_by_city.get(city)
        store = None
        if local and (in_store or r() < 0.5):
            store = rng.choice(local)
        elif in_store:
            store = rng.choice(self.ref.store_ids)
        guide = None
        if store and ((in_store and r() < 0.85) or r() < 0.2):
            guide = rng.choice(self.ref.guides_by_store[store])
        wechat = source in data.WECHAT_SOURCES or r() < 0.3
        unionid = "o" + self._token(1, 27) if wechat else None
        openid = (
            "oM" + self._token(2, 26) if source == "miniprogram" or (wechat and r() < 0.5) else None
        )
        wecom = "wm" + self._token(3, 30) if source == "wecom" or (guide and r() < 0.6) else None
        phone = self._phone()
        self.number += 1

        orders = self._orders(joined, source, store)
        stats = self._write_orders(rows, member_id, orders)
        balance = self._points(rows, member_id, orders)
        self._coupons(rows, member_id, joined, orders)
        self._tags(rows, member_id, joined, guide, orders, stats, wecom)
        self._consents(rows, member_id, joined, openid, wecom)
        count, paid_total, margin_total, first, last = stats
        tier = next(tid for tid, floor in self.ref.tiers if paid_total >= floor)
        created = ts(joined)
        rows.members.append(
            (
                member_id, name, gender, birthday, province, city, phone, unionid, openid, wecom,
                source, store, guide[0] if guide else None, tier, "active",
                ts(first) if first else None, ts(last) if last else None, count,
                money(paid_total), money(margin_total), balance, 0, created,
                ts(max(joined, last or joined)),
            )
        )  # fmt: skip
        if self.with_events:
            payload = f'{{"source": "{source}", "store_id": {store or "null"}}}'
            rows.events.append((member_id, "member.created", payload, created, self.now))

    def _orders(self, joined: float, source: str, store: int | None) -> list[list]:
        """[paid_at, cents, margin cents, items, status, channel] with a personal rhythm: a
        share never comes back, the others return every so often until they drift away."""
        rng, r = self.rng, self.rng.random
        if r() >= (0.9 if source in data.IN_STORE_SOURCES else 0.7):
            return []
        start = max(joined, self.anchor - HISTORY_DAYS * DAY)
        t = start + rng.expovariate(1 / (20 * DAY))
        if t >= self.anchor:
            t = start + r() * (self.anchor - start)
        repeat = r() < 0.6
        interval = rng.lognormvariate(math.log(75), 0.5) * DAY / self.order_frequency
        spend = rng.lognormvariate(0, 0.35)
        if source in ("douyin", "kuaishou", "xiaohongshu"):
            online, live = 0.6, 0.5
        elif source in ("miniprogram", "tmall", "weibo", "official_account"):
            online, live = 0.75, 0.1
        else:
            online, live = 0.2, 0.2
        orders = []
        while True:
            # Shops are open 10:00-22:00 local time (UTC+8).
            day = (t + 8 * 3600) // DAY * DAY - 8 * 3600
            paid_at = max(joined, day + (10 + 12 * r()) * 3600)
            cents = max(990, int(rng.lognormvariate(_MONEY_MU, 0.55) * spend * 100))
            margin = int(cents * (0.4 + 0.2 * r()))
            items = min(8, 1 + int(rng.expovariate(1.2)))
            status = OrderStatus.REFUNDED if r() < 0.03 else OrderStatus.PAID
            if store is None or r() < online:
                channel = "douyin" if r() < live else "miniprogram"
            else:
                channel = "pos"
            orders.append([paid_at, cents, margin, items, status, channel, store])
            if not repeat or r() < 0.12 / self.order_frequency:
                break
            t += interval * rng.lognormvariate(0, 0.35)
            if t >= self.anchor:
                break
        return orders

    def _write_orders(self, rows: Rows, member_id: int, orders: list[list]) -> tuple:
        count = paid_total = margin_total = 0
        first = last = None
        for order in orders:
            paid_at, cents, margin, items, status, channel, store = order
            order_id = self.order_id
            self.order_id += 1
            self.order_number += 1
            external_id = f"{data.ORDER_CHANNELS[channel]}{self.order_number:010d}"
            order.extend((order_id, external_id))
            refunded = status == OrderStatus.REFUNDED
            at = ts(paid_at)
            rows.orders.append(
                (
                    order_id, channel, external_id, member_id,
                    store if channel == "pos" else None, money(cents), money(margin), items, at,
                    status, ts(paid_at + 3 * DAY) if refunded else None, at, at,
                )
            )  # fmt: skip
            if refunded:
                continue
            count += 1
            paid_total += cents
            margin_total += margin
            first = paid_at if first is None else first
            last = paid_at
            if self.with_events:
                # The order.paid payload of order_upsert; formatted directly, json.dumps is
                # a tenth of the generation time. Every value here is a number or an id.
                store_id = store if channel == "pos" and store else "null"
                payload = (
                    f'{{"order_id": {order_id}, "external_id": "{external_id}", '
                    f'"amount": "{money(cents)}", "store_id": {store_id}}}'
                )
                rows.events.append((member_id, "order.paid", payload, at, self.now))
        return count, paid_total, margin_total, first, last


# --- how often buyers come back, for an average number of orders ---------------------------

_CALIBRATION_MEMBERS = 3000
_FREQUENCY_RANGE = (0.01, 100.0)


class _OrderCounter:
    """Draws members' join dates, sources and orders exactly as DemoGenerator does, and
    counts the orders only."""

    _orders = DemoGenerator._orders

    def __init__(self, frequency: float):
        self.rng = random.Random("demo-order-calibration")  # the same sample every time
        self.anchor = 2_000_000_000.0  # only offsets from it matter
        self.order_frequency = frequency
        self.sources = Weighted(data.SOURCES)

    def mean(self, members: int) -> float:
        r = self.rng.random
        total = 0
        for _i in range(members):
            joined = self.anchor - (r() ** 1.4) * JOIN_DAYS * DAY - r() * DAY
            source = self.sources.pick(r())
            store = 1 if source in data.IN_STORE_SOURCES else None
            total += len(self._orders(joined, source, store))
        return total / members


@functools.lru_cache(maxsize=8)
def order_frequency_for(orders_per_member: float) -> float:
    """The DemoGenerator ``order_frequency`` at which members average ``orders_per_member``
    orders (paid and refunded; members who never buy count as 0), by bisection over a fixed
    simulated sample: the same target always gives the same factor, so seeds stay
    reproducible. ValueError outside what the order model can give (about 0.8 to 150)."""
    low, high = _FREQUENCY_RANGE
    floor = _OrderCounter(low).mean(_CALIBRATION_MEMBERS)
    ceiling = _OrderCounter(high).mean(_CALIBRATION_MEMBERS)
    if not floor <= orders_per_member <= ceiling:
        raise ValueError(
            _("Members can average %(low).1f to %(high).0f orders, not %(asked)s.")
            % {"low": floor, "high": ceiling, "asked": orders_per_member}
        )
    for _i in range(40):
        middle = math.sqrt(low * high)
        if _OrderCounter(middle).mean(_CALIBRATION_MEMBERS) < orders_per_member:
            low = middle
        else:
            high = middle
        if high / low < 1.001:
            break
    return math.sqrt(low * high)
