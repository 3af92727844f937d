"""Tags and consents of a demo member."""

from __future__ import annotations

from members.choices import ConsentChannel, ConsentStatus, TagSource
from members.demo import data
from members.demo.util import DAY, Weighted, ts

SKIN = Weighted(zip(data.TAG_GROUPS[0][2], data.SKIN_WEIGHTS, strict=True))
CATEGORY = Weighted(zip(data.TAG_GROUPS[1][2], data.CATEGORY_WEIGHTS, strict=True))
CHANNEL_TAGS = {"pos": "门店", "miniprogram": "小程序", "douyin": "直播电商"}


class ProfileMixin:
    """Part of DemoGenerator: expects rng, ref, anchor."""

    def _tags(self, rows, member_id, joined, guide, orders, stats, wecom) -> None:
        """Skin type and categories as guides and imports put them; value layer and channel
        preference derived from the orders, as a rule would."""
        r = self.rng.random
        tags = self.ref.tags
        at = ts(min(self.anchor, joined + r() * 30 * DAY))
        if r() < 0.65:
            source, by = (TagSource.MANUAL, guide[1]) if guide else (TagSource.IMPORT, None)
            rows.tags.append((member_id, tags["肤质"][SKIN.pick(r())], source, by, at))
        if r() < 0.6:
            wanted = 1 + int(r() * 3)
            chosen = set()
            while len(chosen) < wanted:
                chosen.add(CATEGORY.pick(r()))
            for name in sorted(chosen):
                rows.tags.append((member_id, tags["偏好品类"][name], TagSource.IMPORT, None, at))
        count, total, _margin, _first, last = stats
        rule_at = ts(self.anchor)
        if count:
            if total >= 300_000 or count >= 6:
                layer = "高价值"
            elif count >= 2 and self.anchor - last > 180 * DAY:
                layer = "流失风险"
            elif count >= 2:
                layer = "潜力"
            else:
                layer = "一般"
            rows.tags.append((member_id, tags["价值分层"][layer], TagSource.RULE, None, rule_at))
        preferred = {CHANNEL_TAGS[order[5]] for order in orders}
        if wecom:
            preferred.add("企业微信")
        for name in sorted(preferred):
            rows.tags.append((member_id, tags["渠道偏好"][name], TagSource.RULE, None, rule_at))

    def _consents(self, rows, member_id, joined, openid, wecom) -> None:
        """Most members allow mini-program and WeCom messages; fewer allow SMS."""
        r = self.rng.random
        at = ts(min(self.anchor, joined + r() * 7 * DAY))
        granted, withdrawn = ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN

        def add(channel, status, method):
            rows.consents.append((member_id, channel, status, at, method))

        if openid:
            x = r()
            if x < 0.92:
                add(ConsentChannel.MINIPROGRAM, granted if x < 0.85 else withdrawn, "miniprogram")
        if wecom:
            x = r()
            if x < 0.88:
                add(ConsentChannel.WECOM, granted if x < 0.8 else withdrawn, "guide")
        x = r()
        if x < 0.4:
            add(ConsentChannel.SMS, granted, "miniprogram")
        elif x < 0.5:
            add(ConsentChannel.SMS, withdrawn, "sms_reply:TD")
        if r() < 0.6:
            add(ConsentChannel.PERSONALISATION, granted, "miniprogram")
