"""Groups data model. Data and invariants only: every write goes through groups.services."""

from .codes import JoinCode
from .groups import CommunityGroup, GroupMembership
from .layering import LayeringRule, LayeringRun

__all__ = [
    "CommunityGroup",
    "GroupMembership",
    "JoinCode",
    "LayeringRule",
    "LayeringRun",
]
