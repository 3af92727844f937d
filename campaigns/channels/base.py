"""The one interface every delivery channel implements (docs/campaigns.md, "Channels")."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # a temporary failure: try again later (with backoff)
    FAILED = "failed"  # permanent: stored with the provider's reason, never retried
    # Not reachable after all, found out by the adapter before contacting the provider (a
    # member with no mini-program subscription left): ``reason`` is a SkipReason value.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Message:
    """One rendered contact. ``key`` is the touchpoint's idempotency key: adapters pass it to
    providers that accept one, so a resend after a crash is recognised there."""

    key: str
    member_id: int
    address: str
    subject: str
    body: str
    options: dict = field(default_factory=dict)
    guide_id: int | None = None
    # The content's ``options["fields"]`` templates rendered for this member: the named values
    # of template-based providers (mini-program subscription data, SMS template parameters).
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    provider_id: str = ""
    reason: str = ""


class Channel:
    """A way to reach members. Subclasses set the class attributes and implement send().

    ``address_column``: the member column that addresses them (phone, openid, ...); members
    without it are skipped as unreachable. ``consent``: the consent channel marketing on this
    channel requires (members.choices.ConsentChannel), or None. ``requires_guide``: the
    message goes out through the member's owning guide, so members without an active one are
    unreachable too. ``audience``: "members" for channels campaigns can pick; "groups" for
    channels that address customer groups (used by the groups app, not by member campaigns).
    ``code`` is also the key of the channel's rate limit (settings.SCRM_CHANNEL_RATES).
    """

    code: str = ""
    label: str = ""
    address_column: str = "phone"
    consent: str | None = None
    requires_guide: bool = False
    audience: str = "members"

    def is_configured(self) -> bool:
        """Whether settings hold what this channel needs (campaigns refuse unusable channels)."""
        return True

    def check_content(
        self, *, subject: str, body: str, options: dict, transactional: bool
    ) -> dict[str, list[str]]:
        """What is wrong with one message's content for this channel, as {part: [messages]}
        (parts: "subject", "body", "options"), checked when the campaign is saved."""
        return {}

    def send(self, message: Message) -> Result:
        raise NotImplementedError

    def send_batch(self, messages: list[Message]) -> list[Result]:
        """Send several messages; adapters with a batch API override this."""
        return [self.send(message) for message in messages]
