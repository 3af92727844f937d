from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.choices import TagSource


class TagGroup(models.Model):
    """A family of tags (skin type, preferred category, value layer); single or multi select."""

    name = models.CharField(_("name"), max_length=30, unique=True)
    multi_select = models.BooleanField(
        _("multiple tags per member"),
        default=True,
        help_text=_("When off, tagging a member replaces their other tag of this group."),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    sort = models.PositiveSmallIntegerField(_("sort order"), default=0)

    class Meta:
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")
        ordering = ["sort", "id"]

    def __str__(self):
        return self.name


class Tag(models.Model):
    """A tag operators and guides put on members. Names follow WeCom's 30-character limit."""

    group = models.ForeignKey(
        TagGroup, on_delete=models.CASCADE, related_name="tags", verbose_name=_("group")
    )
    name = models.CharField(_("name"), max_length=30)
    sort = models.PositiveSmallIntegerField(_("sort order"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # A rule tag: members matching this rule tree get the tag (source "rule") and lose it when
    # they stop matching; a beat job re-materialises it (members.services.segments).
    rule = models.JSONField(_("rule"), null=True, blank=True)
    rule_refreshed_at = models.DateTimeField(_("rule last applied"), null=True, blank=True)
    rule_added = models.PositiveIntegerField(_("members added last time"), default=0)
    rule_removed = models.PositiveIntegerField(_("members removed last time"), default=0)
    # Why the last refresh of the rule failed (the tag was left as it was); cleared by the next
    # success or a new rule. Operators see it in the admin without reading the worker's logs.
    rule_error = models.TextField(_("rule error"), blank=True, default="")
    rule_failed_at = models.DateTimeField(_("rule failed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["group_id", "sort", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="tag_name_unique_in_group"),
        ]

    def __str__(self):
        return f"{self.group.name}: {self.name}" if self.group_id else self.name


class MemberTag(models.Model):
    """A tag on a member, with who put it there, when and how."""

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="member_tags",
        verbose_name=_("member"),
    )
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="member_tags", verbose_name=_("tag")
    )
    source = models.CharField(
        _("source"), max_length=10, choices=TagSource, default=TagSource.MANUAL
    )
    tagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tagged by"),
    )
    created_at = models.DateTimeField(_("tagged at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member tag")
        verbose_name_plural = _("member tags")
        constraints = [
            models.UniqueConstraint(fields=["member", "tag"], name="member_tag_unique"),
        ]
        # (member, tag) serves "tags of a member"; (tag, member) serves "members with a tag".
        indexes = [models.Index(fields=["tag", "member"], name="member_tag_by_tag")]

    def __str__(self):
        return f"{self.member_id}:{self.tag_id}"
