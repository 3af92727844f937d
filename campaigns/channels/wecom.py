"""WeCom channels: 1:1 messages through the owning guide, and customer-group broadcasts.

WeCom does not let an enterprise message its customers directly: a mass message is a task the
staff member confirms in the WeCom client. So the 1:1 channel's "send" is a hand-over: it makes
a GuideTask for the owning guide (their workspace lists it; they send it and confirm), and when
the WeCom API is configured also creates the task in WeCom with add_msg_template, grouped per
guide and identical text. The touchpoint counts as sent once the guide has the task.
"""

from __future__ import annotations

from collections import defaultdict

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.channels.base import Channel, Message, Outcome, Result
from campaigns.channels.http import TransientError
from campaigns.channels.wecom_api import (
    TEXT_MAX_BYTES,
    WeComError,
    msg_template_add,
    wecom_configured,
)
from campaigns.models import GuideTask, GuideTaskStatus
from campaigns.services.guide_tasks import guide_tasks_hand_over, guide_tasks_mark
from members.models import Guide


def _too_long(text: str) -> bool:
    return len(text.encode("utf-8")) > TEXT_MAX_BYTES


def task_result(task: GuideTask) -> Result:
    """What a task's state means for its touchpoint."""
    if task.status == GuideTaskStatus.FAILED:
        return Result(Outcome.FAILED, reason=task.error)
    if task.status == GuideTaskStatus.WAITING:
        return Result(Outcome.RETRY, reason=task.error or "waiting for WeCom")
    return Result(Outcome.SENT, provider_id=f"guide-task:{task.pk}")


class WeComGuideChannel(Channel):
    """WeCom 1:1 through the owning guide. Works without the WeCom API (guides copy the text
    into WeCom from their workspace); with SCRM_WECOM_CORP_ID and SCRM_WECOM_SECRET the task
    is also created in WeCom for the guide to confirm there."""

    code = "wecom"
    label = gettext_lazy("WeCom 1:1 through the owning guide")
    address_column = "wecom_external_userid"
    consent = "wecom"
    requires_guide = True

    def check_content(self, *, subject, body, options, transactional):
        if _too_long(body):
            return {"body": [_("WeCom messages are at most 4000 bytes.")]}
        return {}

    def send_batch(self, messages: list[Message]) -> list[Result]:
        results: dict[str, Result] = {}
        fitting = []
        for message in messages:
            if _too_long(message.body):
                reason = _("The message is longer than WeCom's 4000 bytes.")
                results[message.key] = Result(Outcome.FAILED, reason=reason)
            else:
                fitting.append(message)
        api = wecom_configured()
        tasks = guide_tasks_hand_over(messages=fitting, waiting=api)
        for message in [m for m in fitting if m.key not in tasks]:
            # Only touchpoints become tasks; a key the outbox does not know is a caller's bug.
            results[message.key] = Result(Outcome.FAILED, reason="no touchpoint with this key")
        fitting = [m for m in fitting if m.key in tasks]
        if api:
            waiting = [m for m in fitting if tasks[m.key].status == GuideTaskStatus.WAITING]
            self._create_in_wecom(waiting, tasks)
        for message in fitting:
            results[message.key] = task_result(tasks[message.key])
        return [results[m.key] for m in messages]

    def _create_in_wecom(self, messages: list[Message], tasks: dict[str, GuideTask]) -> None:
        """One add_msg_template per guide and text: a campaign without per-member variables
        makes one WeCom task per guide, listing all their customers."""
        senders = dict(
            Guide.objects.filter(pk__in={m.guide_id for m in messages}).values_list(
                "pk", "wecom_userid"
            )
        )
        groups: dict[tuple[int, str], list[Message]] = defaultdict(list)
        for message in messages:
            groups[(message.guide_id, message.body)].append(message)
        for (guide_id, text), group in groups.items():
            group_tasks = [tasks[m.key] for m in group]
            sender = senders.get(guide_id)
            if not sender:
                reason = _("The owning guide has no WeCom user id.")
                guide_tasks_mark(tasks=group_tasks, status=GuideTaskStatus.FAILED, error=reason)
                continue
            try:
                msgid, refused = msg_template_add(
                    sender=sender, text=text, external_userids=[m.address for m in group]
                )
            except TransientError as exc:
                # Still waiting: the touchpoint is retried and tries WeCom again.
                guide_tasks_mark(tasks=group_tasks, status=GuideTaskStatus.WAITING, error=str(exc))
                continue
            except WeComError as exc:
                guide_tasks_mark(tasks=group_tasks, status=GuideTaskStatus.FAILED, error=str(exc))
                continue
            refused = set(refused)
            accepted = [tasks[m.key] for m in group if m.address not in refused]
            turned_down = [tasks[m.key] for m in group if m.address in refused]
            guide_tasks_mark(tasks=accepted, status=GuideTaskStatus.PENDING, wecom_msgid=msgid)
            guide_tasks_mark(
                tasks=turned_down,
                status=GuideTaskStatus.FAILED,
                wecom_msgid=msgid,
                error=_(
                    "WeCom refused this customer: not a contact of the guide, or this month's "
                    "limit of mass messages is reached."
                ),
            )


class WeComGroupChannel(Channel):
    """群发到客户群: a broadcast to customer groups, created in WeCom for each group owner to
    confirm. It addresses groups, not members, so member campaigns cannot pick it: the groups
    app sends through it (docs/channels.md, "WeCom customer groups").

    A Message here is one owner's share of a broadcast: ``key`` the groups app's outbox key,
    ``address`` the owner's WeCom user id, ``body`` the text, ``options["chat_ids"]`` the
    owner's groups to send to. Messages with the same owner and text become one WeCom task.
    """

    code = "wecom_group"
    label = gettext_lazy("WeCom customer groups")
    address_column = ""
    audience = "groups"

    def is_configured(self) -> bool:
        return wecom_configured()

    def send_batch(self, messages: list[Message]) -> list[Result]:
        groups: dict[tuple[str, str], list[Message]] = defaultdict(list)
        results: dict[str, Result] = {}
        for message in messages:
            chat_ids = message.options.get("chat_ids") or []
            if not message.address or not chat_ids:
                results[message.key] = Result(
                    Outcome.FAILED, reason=_("No group owner or no groups to send to.")
                )
            elif _too_long(message.body):
                results[message.key] = Result(
                    Outcome.FAILED, reason=_("The message is longer than WeCom's 4000 bytes.")
                )
            else:
                groups[(message.address, message.body)].append(message)
        for (sender, text), group in groups.items():
            chat_ids = list(dict.fromkeys(c for m in group for c in m.options["chat_ids"]))
            try:
                msgid, refused = msg_template_add(sender=sender, text=text, chat_ids=chat_ids)
            except TransientError as exc:
                failure = Result(Outcome.RETRY, reason=str(exc))
            except WeComError as exc:
                failure = Result(Outcome.FAILED, reason=str(exc))
            else:
                failure = None
            for message in group:
                if failure is not None:
                    results[message.key] = failure
                elif set(message.options["chat_ids"]) <= set(refused):
                    reason = _("WeCom refused every group of this owner.")
                    results[message.key] = Result(Outcome.FAILED, provider_id=msgid, reason=reason)
                else:
                    results[message.key] = Result(Outcome.SENT, provider_id=msgid)
        return [results[m.key] for m in messages]
