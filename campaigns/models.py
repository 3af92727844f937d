"""Models of the campaigns app; none yet: its issue is still open."""
