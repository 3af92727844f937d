"""Django admin of the groups app: groups with their stats page, join codes with their QR
images, memberships, layering rules with their dry run and apply, and broadcasts. Operators
see everything; a shop guide given the groups permissions sees their store's groups, codes
and members only. Writes go through groups.services."""

from groups.admin import broadcasts, codes, groups, layering, memberships  # noqa: F401
