"""Points and coupons of a demo member, consistent with their orders."""

from __future__ import annotations

import math
from decimal import Decimal

from members.choices import CouponStatus, OrderStatus, PointsKind
from members.demo.util import DAY, ts


class LedgerMixin:
    """Part of DemoGenerator: expects rng, ref, anchor, now, rate, valid_days, reasons."""

    def _points(self, rows, member_id: int, orders: list[list]) -> int:
        """The ledger as the services would have written it: earn per paid order (lapsing after
        the validity), some redemptions (oldest points first), expiries. Returns the balance."""
        rng = self.rng
        balance = 0
        lots: list[list] = []  # [expires at, ledger row as a list]; expiry order = earn order
        head = 0  # lots before head are used up or lapsed

        def lapse(until: float) -> None:
            nonlocal balance, head
            lapsed, at = 0, None
            while head < len(lots) and lots[head][0] <= until:
                lapsed += lots[head][1][7]
                at = lots[head][0]
                lots[head][1][7] = 0
                head += 1
            if lapsed:
                balance -= lapsed
                rows.points.append(
                    (member_id, PointsKind.EXPIRE, -lapsed, balance, self.reasons["expire"],
                     None, None, 0, ts(at))
                )  # fmt: skip

        for paid_at, cents, _m, _i, status, _c, _s, order_id, external_id in orders:
            lapse(paid_at)
            if status != OrderStatus.PAID:
                continue
            points = int(Decimal(cents).scaleb(-2) * self.rate)
            if points > 0:
                balance += points
                expires = paid_at + self.valid_days * DAY if self.valid_days else math.inf
                entry = [member_id, PointsKind.EARN, points, balance,
                         (self.reasons["earn"] % external_id)[:100], order_id,
                         ts(expires) if self.valid_days else None, points, ts(paid_at)]  # fmt: skip
                rows.points.append(entry)
                lots.append([expires, entry])
            if balance >= 200 and rng.random() < 0.1:
                spend = 100 * rng.randint(1, min(balance // 100, 10))
                balance -= spend
                left = spend
                while left:
                    take = min(left, lots[head][1][7])
                    lots[head][1][7] -= take
                    left -= take
                    if lots[head][1][7] == 0:
                        head += 1
                rows.points.append(
                    (member_id, PointsKind.SPEND, -spend, balance, self.reasons["spend"], None,
                     None, 0, ts(paid_at + 60))
                )  # fmt: skip
        lapse(self.anchor)
        return balance

    def _coupons(self, rows, member_id: int, joined: float, orders: list[list]) -> None:
        """Some members redeemed a coupon on one of their orders; some hold a recent one."""
        rng, r = self.rng, self.rng.random
        templates = self.ref.templates
        paid = [order for order in orders if order[4] == OrderStatus.PAID]
        if paid and r() < 0.3:
            order = rng.choice(paid)
            fitting = [t for t in templates if t[2] <= order[1]]
            if fitting:
                template_id, _value, _threshold, days = rng.choice(fitting)
                # Issued before the order, still valid when redeemed on it.
                issued = max(joined, order[0] - (0.5 + r() * (days - 1)) * DAY)
                rows.coupons.append(
                    (template_id, member_id, self._coupon_code(), CouponStatus.REDEEMED,
                     ts(issued), ts(issued + days * DAY), order[7], ts(order[0]))
                )  # fmt: skip
        if r() < 0.25:
            template_id, _value, _threshold, days = rng.choice(templates)
            issued = max(joined, self.anchor - r() * 45 * DAY)
            expires = ts(issued + days * DAY)
            status = CouponStatus.ISSUED if expires > self.now else CouponStatus.EXPIRED
            rows.coupons.append(
                (template_id, member_id, self._coupon_code(), status, ts(issued), expires,
                 None, None)
            )  # fmt: skip
