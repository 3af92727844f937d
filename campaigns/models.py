"""Campaigns, their steps and variants, runs, and the touchpoint outbox.

A Touchpoint is one planned contact of one member by one campaign step. Its unique ``key`` is
what makes every send happen once: fan-outs insert with ON CONFLICT DO NOTHING, workers claim
rows atomically, and the key goes to providers that accept one (docs/campaigns.md).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CampaignKind(models.TextChoices):
    ONE_OFF = "one_off", _("one-off")
    RECURRING = "recurring", _("recurring")
    JOURNEY = "journey", _("journey")
    REPURCHASE = "repurchase", _("repurchase")
    BIRTHDAY = "birthday", _("birthday")
    LIFECYCLE = "lifecycle", _("lifecycle stage change")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    SCHEDULED = "scheduled", _("scheduled")
    RUNNING = "running", _("running")
    PAUSED = "paused", _("paused")
    COMPLETED = "completed", _("completed")
    CANCELLED = "cancelled", _("cancelled")


class Campaign(models.Model):
    """What to say, to whom, on which channel and when (kinds: docs/campaigns.md)."""

    name = models.CharField(_("name"), max_length=100)
    goal = models.CharField(_("goal"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=CampaignKind)
    status = models.CharField(
        _("status"), max_length=10, choices=CampaignStatus, default=CampaignStatus.DRAFT
    )
    channel = models.CharField(_("channel"), max_length=20)
    segment = models.ForeignKey(
        "members.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("audience"),
        help_text=_("Who may be contacted; empty means every member reachable on the channel."),
    )
    # One-off: when. Recurring: a cron-like calendar in the brand's time zone, e.g. the 18th of
    # each month at 10:00 is minute "0", hour "10", day of month "18".
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    cron_minute = models.CharField(_("minute"), max_length=60, default="0")
    cron_hour = models.CharField(_("hour"), max_length=60, default="10")
    cron_day_of_month = models.CharField(_("day of month"), max_length=60, default="*")
    cron_month = models.CharField(_("month"), max_length=60, default="*")
    cron_day_of_week = models.CharField(_("day of week"), max_length=60, default="*")
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True, db_index=True)
    # Entry trigger of journeys (an event kind) and of lifecycle campaigns (the stage entered).
    entry_event = models.CharField(_("entry event"), max_length=40, blank=True)
    lifecycle_stage = models.CharField(_("lifecycle stage"), max_length=10, blank=True)
    # Journeys: only events whose data holds these values start it, e.g. {"group_id": 12}.
    entry_match = models.JSONField(
        _("entry condition"),
        default=dict,
        blank=True,
        help_text=_('Keys and values the event must carry, e.g. {"group_id": 12}.'),
    )
    reenter = models.BooleanField(
        _("enter again on every event"),
        default=False,
        help_text=_("Off: a member goes through the journey once. On: each event starts it again."),
    )
    # Repurchase: members whose nightly prediction gives them less chance of still being a
    # customer are left out (empty: everyone due).
    min_p_alive = models.FloatField(
        _("minimum probability alive"),
        null=True,
        blank=True,
        help_text=_("Repurchase: only members at least this likely (0-1) to still be customers."),
    )
    exit_on_order = models.BooleanField(
        _("leave the journey on an order"),
        default=True,
        help_text=_("Members who buy stop receiving the journey's later steps."),
    )
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout %"),
        default=0,
        help_text=_("Members kept out to measure uplift; the same members every time."),
    )
    attribution_days = models.PositiveSmallIntegerField(_("attribution window (days)"), default=7)
    coupon_template = models.ForeignKey(
        "members.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("coupon offered"),
    )
    transactional = models.BooleanField(
        _("transactional"),
        default=False,
        help_text=_("Service messages (not marketing) are exempt from frequency caps."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=50), name="campaign_holdout_at_most_half"
            ),
        ]

    def __str__(self):
        return self.name


class Variant(models.Model):
    """An A/B arm. Members are split by a hash of (campaign, member), so a member stays in one
    arm for every step of the campaign."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="variants", verbose_name=_("campaign")
    )
    code = models.CharField(_("code"), max_length=8, default="A")
    weight = models.PositiveSmallIntegerField(_("share %"), default=100)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["campaign", "code"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "code"], name="variant_code_unique"),
        ]

    def __str__(self):
        return f"{self.campaign_id}/{self.code}"


class Step(models.Model):
    """A message of the campaign: the only one of a one-off, or day N of a journey."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="steps", verbose_name=_("campaign")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    delay_days = models.PositiveSmallIntegerField(_("days after entry"), default=0)

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="step_position_unique"),
        ]

    def __str__(self):
        return f"{self.campaign_id}#{self.position}"


class Content(models.Model):
    """What one variant says at one step. Templates use {{ variables }} from a fixed list
    (campaigns.content); anything else is refused when saved."""

    step = models.ForeignKey(
        Step, on_delete=models.CASCADE, related_name="contents", verbose_name=_("step")
    )
    variant = models.ForeignKey(
        Variant, on_delete=models.CASCADE, related_name="contents", verbose_name=_("variant")
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("message"))
    # Channel extras, e.g. the mini-program subscription template id.
    options = models.JSONField(_("channel options"), default=dict, blank=True)

    class Meta:
        verbose_name = _("content")
        verbose_name_plural = _("contents")
        constraints = [
            models.UniqueConstraint(fields=["step", "variant"], name="content_step_variant_unique"),
        ]

    def __str__(self):
        return f"{self.step_id}/{self.variant_id}"


class RunStatus(models.TextChoices):
    FANNING_OUT = "fanning_out", _("selecting the audience")
    SENDING = "sending", _("sending")
    DONE = "done", _("done")


class Run(models.Model):
    """One occurrence of a scheduled campaign (the unique slot keeps two schedulers from
    starting it twice). The fan-out walks members by id from ``cursor`` so it can resume."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="runs", verbose_name=_("campaign")
    )
    slot = models.DateTimeField(_("scheduled for"))
    status = models.CharField(
        _("status"), max_length=12, choices=RunStatus, default=RunStatus.FANNING_OUT
    )
    cursor = models.BigIntegerField(_("fan-out position"), default=0)
    planned = models.PositiveIntegerField(_("touchpoints planned"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    fanned_out_at = models.DateTimeField(_("audience selected at"), null=True, blank=True)

    class Meta:
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        ordering = ["-slot"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "slot"], name="run_slot_unique"),
        ]

    def __str__(self):
        return f"{self.campaign_id}@{self.slot:%Y-%m-%d %H:%M}"


class TouchpointState(models.TextChoices):
    PENDING = "pending", _("pending")
    # No longer written: a claimed row stays "pending" with claimed_at set (migration 0006
    # turned the rows in it back to pending, their claims kept); read as in flight.
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("skipped")
    DEFERRED = "deferred", _("deferred (quiet hours)")


class SkipReason(models.TextChoices):
    NO_CONSENT = "no_consent", _("no consent on the channel")
    FREQUENCY_CAP = "frequency_cap", _("frequency cap reached")
    NO_IDENTITY = "no_identity", _("not reachable on the channel")
    NO_SUBSCRIPTION = "no_sub_left", _("no mini-program subscription left")
    HOLDOUT = "holdout", _("holdout group")
    EXITED = "exited", _("left the journey")
    INACTIVE = "inactive", _("member merged or erased")
    CAMPAIGN_STOPPED = "stopped", _("campaign cancelled")
    NO_COUPON = "no_coupon", _("no coupon left to offer")


class Touchpoint(models.Model):
    """The outbox: one planned contact, sent at most once (its ``key`` is unique)."""

    # Unique through Meta.constraints rather than unique=True, which would add a second
    # (LIKE) index on PostgreSQL that nothing here uses. On PostgreSQL the column is
    # COLLATE "C" (migration 0006, not declared here: SQLite has no such collation); a later
    # AlterField of it must set that again.
    key = models.CharField(_("idempotency key"), max_length=80)
    # Only the indexes the dispatcher, caps and reports use (below), and no database-level
    # foreign keys: a 1M-member fan-out pays for every index and every deferred FK check on
    # this table (about a third of its time with the member FK). The ORM creates and deletes
    # these rows with their campaign and member (members are anonymised, never deleted in
    # bulk), which keeps the references whole.
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        related_name="touchpoints",
        verbose_name=_("campaign"),
        db_index=False,
        db_constraint=False,
    )
    run = models.ForeignKey(
        Run,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="touchpoints",
        db_index=False,
        db_constraint=False,
    )
    step = models.ForeignKey(
        Step,
        on_delete=models.CASCADE,
        related_name="touchpoints",
        db_index=False,
        db_constraint=False,
    )
    variant = models.ForeignKey(
        Variant,
        on_delete=models.CASCADE,
        related_name="touchpoints",
        db_index=False,
        db_constraint=False,
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="touchpoints",
        db_index=False,
        db_constraint=False,
    )
    channel = models.CharField(_("channel"), max_length=20)
    state = models.CharField(
        _("state"), max_length=10, choices=TouchpointState, default=TouchpointState.PENDING
    )
    skip_reason = models.CharField(_("skipped because"), max_length=14, blank=True)
    send_after = models.DateTimeField(_("send after"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    provider_id = models.CharField(_("provider message id"), max_length=100, blank=True)
    error = models.CharField(_("provider's reason"), max_length=300, blank=True)
    coupon = models.ForeignKey(
        "members.Coupon",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Last-touch attribution: the first paid order within the window after this contact.
    order = models.ForeignKey(
        "members.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    revenue = models.DecimalField(_("revenue"), max_digits=14, decimal_places=2, default=0)
    margin = models.DecimalField(_("margin"), max_digits=14, decimal_places=2, default=0)
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    # For the holdout comparison, whoever got credit: the member's first paid order within the
    # window after this contact was sent (or due, for rows not sent, the holdout's included).
    bought_at = models.DateTimeField(_("bought within the window at"), null=True, blank=True)
    bought_order = models.ForeignKey(
        "members.Order",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("touchpoint")
        verbose_name_plural = _("touchpoints")
        constraints = [models.UniqueConstraint(fields=["key"], name="touchpoint_key_unique")]
        indexes = [
            # What the dispatcher claims: due rows only, a small partial index.
            # Ordered by (send_after, id) so a sender walks it from where its last batch ended
            # instead of wading through the entries of rows already sent (a queue table's
            # dead index entries wait for vacuum). A claim keeps the row "pending" and sets
            # claimed_at, which no index covers: on PostgreSQL it is a HOT update (no index
            # entry written), with room left in each page for it (fillfactor, migration 0006).
            # Stale claims are found by this index too (they are due rows).
            models.Index(
                fields=["send_after", "id"],
                name="touchpoint_due",
                condition=Q(state__in=["pending", "deferred"]),
            ),
            # Rows a worker of an older release left in "sending" (empty otherwise), for the
            # sweep to hand back; on id, which no claim changes.
            models.Index(fields=["id"], name="touchpoint_sending", condition=Q(state="sending")),
            # Frequency caps and attribution: a member's recent sends.
            models.Index(fields=["member", "sent_at"], name="touchpoint_member_sent"),
            # A campaign's rows: results, cancelling, and its touchpoint list paged by id.
            models.Index(fields=["campaign", "id"], name="touchpoint_campaign"),
        ]

    def __str__(self):
        return self.key


# --- Delivery channels (docs/channels.md) ----------------------------------------------------


class GuideTaskStatus(models.TextChoices):
    # Created here, not yet accepted by WeCom's add_msg_template (only with the WeCom API on).
    WAITING = "waiting", _("waiting for WeCom")
    PENDING = "pending", _("to send")
    CONFIRMED = "confirmed", _("sent by the guide")
    EXPIRED = "expired", _("expired")
    FAILED = "failed", _("refused by WeCom")


class GuideTask(models.Model):
    """A message the owning guide sends to a customer in WeCom. WeCom makes staff confirm mass
    messages to customers, so the WeCom 1:1 channel hands the rendered text to the guide (and,
    with the WeCom API configured, creates the matching task in WeCom) instead of sending it.
    One per touchpoint: a repeated send finds the task it made."""

    touchpoint = models.OneToOneField(
        Touchpoint,
        on_delete=models.CASCADE,
        related_name="guide_task",
        verbose_name=_("touchpoint"),
    )
    guide = models.ForeignKey(
        "members.Guide",
        on_delete=models.CASCADE,
        related_name="campaign_tasks",
        verbose_name=_("shop guide"),
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    text = models.TextField(_("message"))
    status = models.CharField(
        _("status"), max_length=10, choices=GuideTaskStatus, default=GuideTaskStatus.PENDING
    )
    wecom_msgid = models.CharField(_("WeCom task id"), max_length=64, blank=True)
    error = models.CharField(_("WeCom's reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("guide task")
        verbose_name_plural = _("guide tasks")
        ordering = ["-id"]
        indexes = [
            # A guide's to-do list: their pending tasks not yet expired.
            models.Index(fields=["guide", "status", "expires_at"], name="guide_task_todo"),
        ]

    def __str__(self):
        return f"{self.guide_id}→{self.member_id} ({self.status})"


class MiniProgramSubscription(models.Model):
    """One-time subscription messages a member accepted for one template and we have not used
    yet. WeChat delivers one message per acceptance and has no API to read what is left, so
    we count: +1 for each acceptance the mini-program reports, -1 for each touchpoint sent."""

    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    template_id = models.CharField(_("template id"), max_length=64)
    remaining = models.PositiveIntegerField(_("sends left"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("mini-program subscription")
        verbose_name_plural = _("mini-program subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "template_id"], name="miniprogram_subscription_unique"
            ),
        ]

    def __str__(self):
        return f"{self.member_id} {self.template_id}: {self.remaining}"


class SubscriptionSpend(models.Model):
    """One subscription used by one touchpoint. Its key is the touchpoint's: a resend of the
    same touchpoint (after a crash or a retry) finds it and spends nothing more."""

    key = models.CharField(_("touchpoint key"), max_length=80, unique=True)
    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    template_id = models.CharField(_("template id"), max_length=64)
    # Given back because WeChat refused the message for a reason that consumed nothing
    # (bad data, an unknown template): the member's subscription is still there.
    refunded = models.BooleanField(_("given back"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("subscription used")
        verbose_name_plural = _("subscriptions used")

    def __str__(self):
        return self.key


class SmsReply(models.Model):
    """An opt-out a member texted back to the brand's SMS number, as the provider reported it.
    Kept once per provider id, so a callback delivered twice acts once."""

    reply_id = models.CharField(_("provider's id"), max_length=100, unique=True)
    phone = models.CharField(_("phone"), max_length=20)
    content = models.CharField(_("reply"), max_length=500)
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("member"),
    )
    opted_out = models.BooleanField(_("withdrew SMS consent"), default=False)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("SMS reply")
        verbose_name_plural = _("SMS replies")

    def __str__(self):
        return self.reply_id
