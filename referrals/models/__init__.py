"""Referrals data model. Data and invariants only: every write goes through referrals.services."""

from .abuse import Fingerprint
from .codes import ReferralCode
from .fission import FissionProgress, FissionTask
from .programme import MAX_COMMISSION_LEVELS, Programme
from .rewards import Reward
from .tree import Referral, ReferralNode

__all__ = [
    "MAX_COMMISSION_LEVELS",
    "Fingerprint",
    "FissionProgress",
    "FissionTask",
    "Programme",
    "Referral",
    "ReferralCode",
    "ReferralNode",
    "Reward",
]
