"""Models of the groups app; none yet: its issue is still open."""
