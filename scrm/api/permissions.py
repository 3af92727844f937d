"""API permissions shared by the apps: staff users, scoped server keys, mini-program members."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from scrm.api.principals import ApiKeyPrincipal, MemberPrincipal


def is_guide(user) -> bool:
    """A shop guide: a staff user with a guide profile. Guides see one store only."""
    return bool(getattr(user, "pk", None)) and hasattr(user, "guide")


def is_operator(user) -> bool:
    """An operator: a staff user who is not a shop guide (or a superuser)."""
    if not getattr(user, "pk", None):
        return False
    return user.is_superuser or (user.is_staff and not hasattr(user, "guide"))


class StaffOrScopedKey(BasePermission):
    """Staff users (operators and guides) may call; API keys need the view's scope for the
    method (``read_scope`` for safe methods, ``write_scope`` otherwise); members may not."""

    def has_permission(self, request, view):
        user = request.user
        if isinstance(user, MemberPrincipal):
            return False
        if isinstance(user, ApiKeyPrincipal):
            scope = (
                getattr(view, "read_scope", None)
                if request.method in SAFE_METHODS
                else getattr(view, "write_scope", None)
            )
            return bool(scope) and scope in user.scopes
        return bool(getattr(user, "is_authenticated", False) and user.is_staff)


class OperatorOrScopedKey(StaffOrScopedKey):
    """As StaffOrScopedKey, but guides may only read."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        return request.method in SAFE_METHODS or not is_guide(request.user)


class IsMember(BasePermission):
    """Only a member signed in from the mini-program."""

    def has_permission(self, request, view):
        return isinstance(request.user, MemberPrincipal)
