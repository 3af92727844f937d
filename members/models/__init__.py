"""Members data model. Data and invariants only: every write goes through members.services."""

from .benefits import Coupon, CouponTemplate, PointsEntry
from .events import AuditLog, Event
from .imports import ImportJob, ImportKind, ImportStatus
from .member import Consent, Member, MemberMerge, Tier
from .metrics import LifecycleStage, MemberMetrics
from .orders import Order
from .segments import Segment
from .stores import Guide, Store
from .tags import MemberTag, Tag, TagGroup
from .value import MemberValue, ValueModelFit

__all__ = [
    "AuditLog",
    "Consent",
    "Coupon",
    "CouponTemplate",
    "Event",
    "Guide",
    "ImportJob",
    "ImportKind",
    "ImportStatus",
    "LifecycleStage",
    "Member",
    "MemberMerge",
    "MemberMetrics",
    "MemberTag",
    "MemberValue",
    "Order",
    "PointsEntry",
    "Segment",
    "Store",
    "Tag",
    "TagGroup",
    "Tier",
    "ValueModelFit",
]
