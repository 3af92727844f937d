"""Members data model. Data and invariants only: every write goes through members.services."""

from .benefits import Coupon, CouponTemplate, PointsEntry
from .events import AuditLog, Event
from .member import Consent, Member, MemberMerge, Tier
from .orders import Order
from .stores import Guide, Store
from .tags import MemberTag, Tag, TagGroup

__all__ = [
    "AuditLog",
    "Consent",
    "Coupon",
    "CouponTemplate",
    "Event",
    "Guide",
    "Member",
    "MemberMerge",
    "MemberTag",
    "Order",
    "PointsEntry",
    "Store",
    "Tag",
    "TagGroup",
    "Tier",
]
