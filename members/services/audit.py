"""The audit log: who exported, merged, unmasked or erased what (DESIGN.md, "Rules")."""

from __future__ import annotations

from collections.abc import Iterable

from members.models import AuditLog

# A guide with the unmask permission was served full identities (members.selectors.
# member_unmasked_by_permission): one row per page of a list, one per member page.
UNMASKED_VIEW_ACTION = "members.unmasked_view"


def audit_record(*, actor, action: str, target: str = "", data: dict | None = None) -> AuditLog:
    """Write one audit row. ``actor`` is a user or None (a command, a task); the label keeps
    who it was even after the user is deleted."""
    user = actor if getattr(actor, "pk", None) else None
    label = getattr(actor, "get_username", None)
    return AuditLog.objects.create(
        actor=user,
        actor_label=(label() if callable(label) else str(actor or "system"))[:100],
        action=action,
        target=target[:200],
        data=data or {},
    )


def unmasked_view_record(*, actor, member_ids: Iterable[int], where: str) -> AuditLog | None:
    """Audit that ``actor`` was served the unmasked phones and WeChat ids of ``member_ids``
    (a page of a list, or one member) at ``where`` ("admin.list", "api.retrieve" ...): one
    row naming the members, not one per member. Nothing is written for an empty page."""
    ids = list(member_ids)
    if not ids:
        return None
    return audit_record(
        actor=actor,
        action=UNMASKED_VIEW_ACTION,
        target=f"member:{ids[0]}" if len(ids) == 1 else f"members:{len(ids)}",
        data={"where": where, "count": len(ids), "members": ids},
    )
