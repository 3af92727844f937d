"""Cached look-ups of the reference data an import names (stores, guides, tiers, tags).

Imports name the same few stores and tags on every row; one query per distinct name keeps a
million-row import from making a million look-ups. Misses are cached too.
"""

from __future__ import annotations

from django.utils import translation

from members.choices import source_channels
from members.models import Guide, Store, Tag, Tier


class Lookups:
    """Per-import caches; create one per import so changes made meanwhile are seen next time."""

    def __init__(self):
        self._stores: dict[str, Store | None] = {}
        self._guides: dict[str, Guide | None] = {}
        self._tiers: dict[str, Tier | None] = {}
        self._tags: dict[tuple[str, str], Tag | None] = {}
        self._sources: dict[str, str] | None = None

    def store(self, code: str) -> Store | None:
        if code not in self._stores:
            self._stores[code] = Store.objects.filter(code=code).first()
        return self._stores[code]

    def guide(self, ref: str) -> Guide | None:
        """A guide by id, or by the username of their staff login."""
        if ref not in self._guides:
            guides = Guide.objects.select_related("store", "user")
            guide = guides.filter(pk=int(ref)).first() if ref.isdigit() else None
            self._guides[ref] = guide or guides.filter(user__username=ref).first()
        return self._guides[ref]

    def tier(self, ref: str) -> Tier | None:
        """A tier by code, or by its name (金卡)."""
        if ref not in self._tiers:
            tier = Tier.objects.filter(code=ref).first()
            self._tiers[ref] = tier or Tier.objects.filter(name=ref).first()
        return self._tiers[ref]

    def tag(self, group: str, name: str) -> Tag | None:
        key = (group, name)
        if key not in self._tags:
            self._tags[key] = (
                Tag.objects.select_related("group").filter(group__name=group, name=name).first()
            )
        return self._tags[key]

    def source(self, text: str) -> str | None:
        """A source channel by code (douyin) or label in English or Chinese (抖音)."""
        if self._sources is None:
            self._sources = {}
            for language in ("en", "zh-hans"):
                with translation.override(language):
                    for code, label in source_channels():
                        self._sources[str(label).lower()] = code
            self._sources.update({code: code for code, _label in source_channels()})
        return self._sources.get(text.strip().lower())
