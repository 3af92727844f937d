"""Event kinds the groups app writes to the members' event log (members.events).

Each is written in the transaction of the fact, one event per member, and handed to the
registered handlers after commit; the campaign engine starts journeys from them (a welcome
message on ``group.joined``, the end-of-sale notice on ``group.dissolving``).

Data (JSON):
- ``group.joined``    {"group_id", "code_id" (or null), "how": code|guide_invite|rule,
                       "rule_id" (rule joins), "invited_by" (guide id, or null)}
- ``group.left``      {"group_id", "code_id", "how", "reason": left|removed|merged|erased}
- ``group.dissolving`` {"group_id", "code_id", "expires_at" (ISO 8601)}: a flash group ends soon
- ``group.dissolved`` {"group_id", "code_id", "reason": expired|staff, "orders", "revenue"}
"""

from django.utils.translation import gettext_lazy as _


class GroupEventKind:
    JOINED = "group.joined"
    LEFT = "group.left"
    DISSOLVING = "group.dissolving"
    DISSOLVED = "group.dissolved"


# How the member timeline names them (registered in GroupsConfig.ready()).
GROUP_EVENT_LABELS = {
    GroupEventKind.JOINED: _("joined a group"),
    GroupEventKind.LEFT: _("left a group"),
    GroupEventKind.DISSOLVING: _("group ending soon"),
    GroupEventKind.DISSOLVED: _("group dissolved"),
}
