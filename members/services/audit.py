"""The audit log: who exported, merged, unmasked or erased what (DESIGN.md, "Rules")."""

from __future__ import annotations

from members.models import AuditLog


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
