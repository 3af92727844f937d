"""Models of the referrals app; none yet: its issue is still open."""
