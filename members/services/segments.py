"""Saved segments and rule tags: create, change, count, and re-materialise rule tags set-based."""

from __future__ import annotations

import logging
import time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import TagSource
from members.models import Member, MemberTag, Segment, Tag
from members.segments import TreeError, segment_members, tree_parse
from members.services.tags import members_tag, members_untag

logger = logging.getLogger(__name__)


def segment_tree_check(tree) -> None:
    """Raise ValidationError({"tree": [{"path", "message"}, ...]}) unless ``tree`` is a usable
    rule tree; the errors name every faulty node."""
    try:
        tree_parse(tree)
    except TreeError as exc:
        messages = [f"{e['path']}: {e['message']}" for e in exc.errors]
        raise ValidationError({"tree": messages}) from exc


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": [_("A name of 1 to 100 characters is required.")]})
    return name


@transaction.atomic
def segment_create(*, name: str, tree, description: str = "", owner=None) -> Segment:
    """Save a segment after checking its tree; the count is taken at once so the list shows
    it (evaluating a tree is one query)."""
    name = _clean_name(name)
    segment_tree_check(tree)
    if Segment.objects.filter(name=name).exists():
        raise ValidationError({"name": [_("A segment with this name already exists.")]})
    segment = Segment.objects.create(
        name=name,
        tree=tree,
        description=(description or "").strip()[:300],
        owner=owner if getattr(owner, "pk", None) else None,
    )
    return segment_count_refresh(segment=segment)


@transaction.atomic
def segment_update(*, segment: Segment, **values) -> Segment:
    """Change a segment's name, description or tree; a new tree is checked and recounted."""
    if "name" in values:
        name = _clean_name(values["name"])
        if Segment.objects.filter(name=name).exclude(pk=segment.pk).exists():
            raise ValidationError({"name": [_("A segment with this name already exists.")]})
        segment.name = name
    if "description" in values:
        segment.description = (values["description"] or "").strip()[:300]
    tree_changed = "tree" in values and values["tree"] != segment.tree
    if tree_changed:
        segment_tree_check(values["tree"])
        segment.tree = values["tree"]
    segment.save()
    return segment_count_refresh(segment=segment) if tree_changed else segment


class SegmentInUse(Exception):
    """The segment is the audience of campaigns or group rules; ``users`` lists them as
    {"type", "id", "name"}, and the message names them."""

    def __init__(self, users: list[dict]):
        self.users = users
        names = ", ".join(f"{u['type']} “{u['name']}”" for u in users)
        super().__init__(
            _("This segment is in use by %(users)s; change or delete those first.")
            % {"users": names}
        )


def segment_delete(*, segment: Segment) -> None:
    """Delete a segment nothing uses. Campaigns and group rules hold theirs (PROTECT): then
    SegmentInUse names them and nothing is deleted."""
    try:
        with transaction.atomic():
            segment.delete()
    except ProtectedError as exc:
        users = sorted(
            (
                {"type": str(obj._meta.verbose_name), "id": obj.pk, "name": str(obj)}
                for obj in exc.protected_objects
            ),
            key=lambda u: (u["type"], u["id"]),
        )
        raise SegmentInUse(users) from exc


def segment_count_refresh(*, segment: Segment, now=None) -> Segment:
    """Count the segment's members now and keep the figure with its time. TreeError when the
    saved tree no longer holds (a tag it names was deleted since)."""
    now = now or timezone.now()
    segment.cached_count = segment_members(segment.tree, now=now).count()
    segment.counted_at = now
    Segment.objects.filter(pk=segment.pk).update(cached_count=segment.cached_count, counted_at=now)
    return segment


# --- rule tags -------------------------------------------------------------------------------


@transaction.atomic
def tag_rule_set(*, tag: Tag, tree) -> Tag:
    """Make ``tag`` a rule tag (or a plain one again with ``tree=None``). Members are tagged
    by the next refresh; clearing the rule removes the rule-made tags at once."""
    if tree is not None:
        segment_tree_check(tree)
    tag.rule = tree
    # An error was about the rule it replaces.
    tag.rule_error, tag.rule_failed_at = "", None
    tag.save(update_fields=["rule", "rule_error", "rule_failed_at"])
    if tree is None:
        members_untag(
            members=Member.objects.filter(
                pk__in=MemberTag.objects.filter(tag=tag, source=TagSource.RULE).values("member_id")
            ),
            tags=[tag],
        )
    return tag


@transaction.atomic
def rule_tag_refresh(*, tag: Tag, now=None) -> tuple[int, int]:
    """Re-materialise one rule tag set-based: tag the matching members who lack it, untag the
    members it was put on by the rule who no longer match. Returns (added, removed).

    Tags put on by hand or by an import stay: the rule only takes back what it gave."""
    now = now or timezone.now()
    matching = segment_members(tag.rule, now=now)
    added = members_tag(members=matching, tag=tag, source=TagSource.RULE)
    stale = Member.objects.filter(
        pk__in=MemberTag.objects.filter(tag=tag, source=TagSource.RULE).values("member_id")
    ).exclude(pk__in=matching.values("pk"))
    removed = members_untag(members=stale, tags=[tag])
    Tag.objects.filter(pk=tag.pk).update(
        rule_refreshed_at=now,
        rule_added=added,
        rule_removed=removed,
        rule_error="",
        rule_failed_at=None,
    )
    return added, removed


def rule_tag_apply(*, tag: Tag, now=None) -> dict:
    """Refresh one rule tag and report how it went: ``{"added", "removed"}``, or ``{"error"}``
    when the rule failed, in which case nothing of the tag's members changed and the error
    is kept on the tag (``rule_error``, ``rule_failed_at``) for operators to see.

    A rule fails for reasons found only when it runs: it names a tag deleted since, it was
    saved before a check existed, a field another app registered breaks, or the database
    gives up (a statement timeout)."""
    now = now or timezone.now()
    started = time.monotonic()
    try:
        added, removed = rule_tag_refresh(tag=tag, now=now)
    except (TreeError, ValidationError) as exc:
        # A rule that no longer holds (a tag it named was deleted): reported, not fatal.
        logger.warning("rule tag %s skipped: %s", tag.pk, exc)
        error = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
        # rule_tag_refresh's transaction has rolled back: nothing of this tag changed.
        logger.exception("rule tag %s failed", tag.pk)
        error = f"{type(exc).__name__}: {exc}"
    else:
        logger.info(
            "rule tag %s: +%s -%s in %.2fs", tag.pk, added, removed, time.monotonic() - started
        )
        return {"added": added, "removed": removed}
    Tag.objects.filter(pk=tag.pk).update(rule_error=error[:2000], rule_failed_at=now)
    return {"error": error}


def rule_tags_refresh(*, now=None) -> dict[str, dict]:
    """Refresh every rule tag, each in its own transaction: one bad rule does not hold the
    others back. Returns {tag: {"added", "removed"} or {"error"}} (see rule_tag_apply); a
    failed tag keeps its members and ``rule_refreshed_at`` as at its last success."""
    now = now or timezone.now()
    return {
        str(tag): rule_tag_apply(tag=tag, now=now)
        for tag in Tag.objects.filter(rule__isnull=False).select_related("group").order_by("pk")
    }
