"""Tag groups, tags and tagging members in bulk, set-based."""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import TagSource
from members.events import EventKind, events_record_bulk
from members.models import Member, MemberTag, Tag, TagGroup

# WeCom allows 3,000 corp tags per enterprise; we keep the same ceiling so tags can sync there.
MAX_TAGS = 3000


@transaction.atomic
def tag_group_create(
    *, name: str, multi_select: bool = True, description: str = "", sort: int = 0
) -> TagGroup:
    """Create a tag group; names are unique."""
    name = (name or "").strip()
    if not name or len(name) > 30:
        raise ValidationError({"name": [_("A name of 1 to 30 characters is required.")]})
    if TagGroup.objects.filter(name=name).exists():
        raise ValidationError({"name": [_("A tag group with this name exists.")]})
    return TagGroup.objects.create(
        name=name, multi_select=multi_select, description=description, sort=sort
    )


@transaction.atomic
def tag_create(*, group: TagGroup, name: str, sort: int = 0) -> Tag:
    """Create a tag in ``group``; names are unique within a group, at most 30 characters."""
    name = (name or "").strip()
    if not name or len(name) > 30:
        raise ValidationError({"name": [_("A name of 1 to 30 characters is required.")]})
    if Tag.objects.filter(group=group, name=name).exists():
        raise ValidationError({"name": [_("This group already has a tag with this name.")]})
    if Tag.objects.count() >= MAX_TAGS:
        raise ValidationError(_("At most %(n)d tags are allowed.") % {"n": MAX_TAGS})
    return Tag.objects.create(group=group, name=name, sort=sort)


def tag_resolve(*, ref: str | int) -> Tag:
    """Find a tag by id or by "group:name"; raises a ValidationError naming the unknown tag."""
    tag = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        tag = Tag.objects.select_related("group").filter(pk=int(ref)).first()
    elif isinstance(ref, str) and ":" in ref:
        group_name, tag_name = (part.strip() for part in ref.split(":", 1))
        tag = (
            Tag.objects.select_related("group")
            .filter(group__name=group_name, name=tag_name)
            .first()
        )
    if tag is None:
        raise ValidationError(
            {"tag": [_("Unknown tag “%(ref)s”.") % {"ref": ref}]}, code="unknown_tag"
        )
    return tag


def _member_ids_sql(members: QuerySet[Member]) -> tuple[str, tuple]:
    try:
        sql, params = members.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        # Django proved no member can match (an id beyond bigint): select nothing.
        return f"SELECT id FROM {Member._meta.db_table} WHERE 1 = 0", ()
    return sql, tuple(params)


@transaction.atomic
def members_tag(
    *, members: QuerySet[Member], tag: Tag, source: str = TagSource.MANUAL, actor=None
) -> int:
    """Put ``tag`` on every member of ``members`` in one INSERT ... SELECT; returns how many
    members newly got it. For a single-select group the member's other tag of the group goes."""
    if source not in TagSource.values:
        raise ValidationError({"source": [_("Unknown tag source.")]})
    if not tag.group.multi_select:
        members_untag(
            members=members,
            tags=Tag.objects.filter(group_id=tag.group_id).exclude(pk=tag.pk),
            actor=actor,
        )
    select_sql, params = _member_ids_sql(members)
    table = MemberTag._meta.db_table
    now = timezone.now()
    actor_id = actor.pk if getattr(actor, "pk", None) else None
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (member_id, tag_id, source, tagged_by_id, created_at) "  # noqa: S608
            f"SELECT id, %s, %s, %s, %s FROM {Member._meta.db_table} WHERE id IN ({select_sql}) "
            "ON CONFLICT (member_id, tag_id) DO NOTHING RETURNING member_id",
            (tag.pk, source, actor_id, now, *params),
        )
        tagged = [row[0] for row in cursor.fetchall()]
    events_record_bulk(
        member_ids=tagged,
        kind=EventKind.TAGGED,
        data={"tag_id": tag.pk, "tag": str(tag), "source": source},
        occurred_at=now,
    )
    return len(tagged)


@transaction.atomic
def members_untag(*, members: QuerySet[Member], tags: QuerySet[Tag] | list[Tag], actor=None) -> int:
    """Remove ``tags`` from every member of ``members`` in one DELETE; returns rows removed."""
    tag_list = list(tags)
    if not tag_list:
        return 0
    select_sql, params = _member_ids_sql(members)
    table = MemberTag._meta.db_table
    marks = ", ".join(["%s"] * len(tag_list))
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE tag_id IN ({marks}) "  # noqa: S608
            f"AND member_id IN ({select_sql}) RETURNING member_id, tag_id",
            (*[t.pk for t in tag_list], *params),
        )
        removed = cursor.fetchall()
    by_tag: dict[int, list[int]] = {}
    for member_id, tag_id in removed:
        by_tag.setdefault(tag_id, []).append(member_id)
    names = {t.pk: str(t) for t in tag_list}
    for tag_id, member_ids in by_tag.items():
        events_record_bulk(
            member_ids=member_ids,
            kind=EventKind.UNTAGGED,
            data={"tag_id": tag_id, "tag": names[tag_id]},
        )
    return len(removed)
