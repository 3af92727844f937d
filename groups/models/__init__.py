"""Groups data model. Data and invariants only: every write goes through groups.services."""

from .broadcasts import BroadcastDelivery, GroupBroadcast
from .codes import JoinCode
from .groups import CommunityGroup, GroupMembership
from .layering import LayeringRule, LayeringRun

__all__ = [
    "BroadcastDelivery",
    "CommunityGroup",
    "GroupBroadcast",
    "GroupMembership",
    "JoinCode",
    "LayeringRule",
    "LayeringRun",
]
