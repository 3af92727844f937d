"""Django admin of the referrals app, for operators: programme settings and metrics, codes,
referrals, a member's place in the tree (upline path, downline by level), fission tasks with
their leaderboard, and the review queue of held rewards. Writes go through referrals.services.
"""

from referrals.admin import codes, programmes, rewards, tree  # noqa: F401
