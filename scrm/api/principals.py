"""Who is calling the API, beyond Django users: server keys and mini-program members.

DRF expects ``request.user``; these stand in for it with ``is_authenticated`` set, and carry
what permission checks need (scopes, or the member).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """A server client authenticated by an API key."""

    key_id: int
    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    @property
    def client_id(self) -> str:
        return f"key:{self.key_id}"

    def __str__(self):
        return f"API key {self.name}"


@dataclass(frozen=True)
class MemberPrincipal:
    """A member signed in from the mini-program."""

    member_id: int
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False
    pk: None = None

    @property
    def client_id(self) -> str:
        return f"member:{self.member_id}"

    def __str__(self):
        return f"member #{self.member_id}"
