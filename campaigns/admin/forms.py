"""The campaign form of the admin: the campaign's fields, its variants and its messages on one
page, edited as plain fields (no JSON to write), and checked as a whole by the service rules
(campaigns.services.editing.campaign_check) before anything is saved.

Messages are rows: a step number, the days after entry, the variant code, then the text. Rows
with the same step number are one step (a journey's day 0, day 3 ...), one row per variant.
The service names problems by path (``steps[0].B.body``, ``variants``, ``schedule``); each
is put back on the row and field it is about.
"""

from __future__ import annotations

import json
import re

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.channels import channels
from campaigns.models import Campaign
from campaigns.services.editing import CAMPAIGN_FIELDS, campaign_check, campaign_spec
from campaigns.services.enrol import ENTRY_EVENTS
from campaigns.services.schedule import ScheduleError, cron_next, cron_parse
from members.models.metrics import LifecycleStage

# Option keys edited in their own inputs; any other key is kept in "more options".
OPTION_INPUTS = ("template_id", "template_code", "page")
STEP_ERROR = re.compile(r"^steps\[(\d+)\](?:\.(.+))?$")
NEXT_RUNS = 3


def next_runs(campaign: Campaign, *, count: int = NEXT_RUNS) -> list:
    """The next times the campaign's calendar fires (ScheduleError when it cannot)."""
    schedule = cron_parse(
        minute=campaign.cron_minute,
        hour=campaign.cron_hour,
        day_of_month=campaign.cron_day_of_month,
        month=campaign.cron_month,
        day_of_week=campaign.cron_day_of_week,
    )
    runs, after = [], max(campaign.starts_at or timezone.now(), timezone.now())
    for _i in range(count):
        after = cron_next(schedule, after)
        if campaign.ends_at and after >= campaign.ends_at:
            break
        runs.append(after)
    return runs


def schedule_help(campaign: Campaign | None) -> str:
    """What the saved calendar does: its next runs in the brand's time zone."""
    if campaign is None or campaign.pk is None:
        return _("Save to see the next runs.")
    try:
        runs = next_runs(campaign)
    except ScheduleError as exc:
        return str(exc)
    if not runs:
        return _("No run before the end date.")
    when = ", ".join(timezone.localtime(run).strftime("%Y-%m-%d %H:%M") for run in runs)
    return _("Next runs (%(tz)s): %(when)s.") % {
        "tz": timezone.get_current_timezone_name(),
        "when": when,
    }


class EntryMatchField(forms.CharField):
    """The journey's entry condition as ``key = value`` lines (event data must carry them)."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 40})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{key} = {item}" for key, item in value.items())
        return value

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        text = super().to_python(value)
        result = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            key, sep, item = line.partition("=")
            if not sep or not key.strip():
                raise ValidationError(_("Write one condition a line, as key = value."))
            item = item.strip()
            result[key.strip()] = int(item) if re.fullmatch(r"-?\d{1,15}", item) else item
        return result

    def has_changed(self, initial, data):
        return self.prepare_value(initial or {}) != self.prepare_value(self.to_python(data))


def _options_split(options: dict) -> dict:
    """A content's channel options as the row's inputs."""
    options = dict(options or {})
    row = {key: options.pop(key, "") for key in OPTION_INPUTS}
    fields = options.pop("fields", None) or {}
    row["template_fields"] = (
        "\n".join(f"{name} = {text}" for name, text in fields.items())
        if isinstance(fields, dict)
        else ""
    )
    if not isinstance(fields, dict):
        options["fields"] = fields
    row["more_options"] = json.dumps(options, ensure_ascii=False) if options else ""
    return row


class VariantRowForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("code"), max_length=8)
    weight = forms.IntegerField(
        label=gettext_lazy("share %"),
        min_value=1,
        max_value=100,
        widget=forms.NumberInput(attrs={"style": "width: 5em"}),
    )

    def clean_code(self):
        return self.cleaned_data["code"].strip()


class MessageRowForm(forms.Form):
    step = forms.IntegerField(
        label=gettext_lazy("step"),
        min_value=1,
        max_value=50,
        help_text=gettext_lazy("1 for the first message; journeys number their steps 1, 2, 3."),
        widget=forms.NumberInput(attrs={"style": "width: 5em"}),
    )
    delay_days = forms.IntegerField(
        label=gettext_lazy("days after entry"),
        min_value=0,
        max_value=365,
        initial=0,
        widget=forms.NumberInput(attrs={"style": "width: 5em"}),
    )
    variant = forms.CharField(label=gettext_lazy("variant"), max_length=8, initial="A")
    subject = forms.CharField(
        label=gettext_lazy("subject"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
    )
    body = forms.CharField(
        label=gettext_lazy("message"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
    )
    template_id = forms.CharField(
        label=gettext_lazy("template id"),
        required=False,
        max_length=64,
        help_text=gettext_lazy("Mini-program: the subscription message template."),
    )
    template_code = forms.CharField(
        label=gettext_lazy("SMS template code"),
        required=False,
        max_length=64,
        help_text=gettext_lazy("SMS: the approved template's code."),
    )
    page = forms.CharField(
        label=gettext_lazy("mini-program page"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("Mini-program: the page the message opens."),
    )
    template_fields = forms.CharField(
        label=gettext_lazy("template fields"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
        help_text=gettext_lazy(
            "One a line, as name = text, e.g. thing1 = {{ member_name }}: the keywords of a "
            "mini-program template or the variables of an SMS template."
        ),
    )
    more_options = forms.CharField(
        label=gettext_lazy("more channel options"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 70}),
        help_text=gettext_lazy("Rarely needed: other options as a JSON object."),
    )

    def clean_template_fields(self):
        result = {}
        for line in (self.cleaned_data.get("template_fields") or "").splitlines():
            if not line.strip():
                continue
            name, sep, text = line.partition("=")
            if not sep or not name.strip():
                raise ValidationError(_("Write one field a line, as name = text."))
            result[name.strip()] = text.strip()
        return result

    def clean_more_options(self):
        text = (self.cleaned_data.get("more_options") or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValidationError(_("Not valid JSON.")) from exc
        if not isinstance(value, dict):
            raise ValidationError(_('Give a JSON object, e.g. {"key": "value"}.'))
        return value

    def options(self) -> dict:
        data = self.cleaned_data
        options = dict(data.get("more_options") or {})
        for key in OPTION_INPUTS:
            if data.get(key):
                options[key] = data[key].strip()
        if data.get("template_fields"):
            options["fields"] = data["template_fields"]
        return options


VariantFormSet = forms.formset_factory(
    VariantRowForm, extra=1, can_delete=True, can_delete_extra=False
)
MessageFormSet = forms.formset_factory(
    MessageRowForm, extra=1, can_delete=True, can_delete_extra=False
)


class CampaignForm(forms.ModelForm):
    """The campaign's fields plus two formsets: ``variant_forms`` and ``message_forms``."""

    entry_match = EntryMatchField(
        label=gettext_lazy("entry condition"),
        required=False,
        help_text=gettext_lazy(
            "One a line, as key = value: only events whose data carries them start the "
            "journey, e.g. group_id = 12."
        ),
    )

    class Meta:
        model = Campaign
        fields = CAMPAIGN_FIELDS
        help_texts = {
            "send_at": gettext_lazy("One-off: when to send; empty: as soon as it is launched."),
            "cron_minute": gettext_lazy('0-59, e.g. "0" or "0,30"'),
            "cron_hour": gettext_lazy('0-23, e.g. "10"'),
            "cron_day_of_month": gettext_lazy('1-31, e.g. "18"; "*": every day'),
            "cron_month": gettext_lazy('1-12; "*": every month'),
            "cron_day_of_week": gettext_lazy('0-6 (Sunday is 0) or "mon-fri"; "*": any day'),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        fields = self.fields
        current = self.instance.channel if self.instance.pk else ""
        choices = [(c.code, c.label or c.code) for c in channels() if c.audience == "members"]
        if current and current not in {code for code, _label in choices}:
            choices.append((current, current))
        if "channel" in fields:
            fields["channel"] = forms.ChoiceField(
                label=fields["channel"].label,
                choices=[("", "---------"), *choices],
                help_text=gettext_lazy("How the message reaches members."),
            )
        if "entry_event" in fields:
            events = [(kind, f"{label} ({kind})") for kind, label in ENTRY_EVENTS.items()]
            if self.instance.entry_event and self.instance.entry_event not in ENTRY_EVENTS:
                events.append((self.instance.entry_event, self.instance.entry_event))
            fields["entry_event"] = forms.ChoiceField(
                label=fields["entry_event"].label,
                choices=[("", "---------"), *events],
                required=False,
                help_text=gettext_lazy("Journeys: the event that starts it for a member."),
            )
        if "lifecycle_stage" in fields:
            fields["lifecycle_stage"] = forms.ChoiceField(
                label=fields["lifecycle_stage"].label,
                choices=[("", "---------"), *LifecycleStage.choices],
                required=False,
                help_text=gettext_lazy("Lifecycle campaigns: members entering this stage."),
            )
        bounds = {"holdout_percent": (0, 50), "attribution_days": (1, 90)}
        for name, (low, high) in bounds.items():
            if name in fields:
                fields[name] = forms.IntegerField(
                    label=fields[name].label,
                    help_text=fields[name].help_text,
                    min_value=low,
                    max_value=high,
                    initial=fields[name].initial,
                )
        if "min_p_alive" in fields:
            fields["min_p_alive"] = forms.FloatField(
                label=fields["min_p_alive"].label,
                help_text=fields["min_p_alive"].help_text,
                min_value=0,
                max_value=1,
                required=False,
            )
        if "cron_day_of_week" in fields:
            fields["cron_day_of_week"].help_text = format_html(
                "{}<br><strong>{}</strong>",
                fields["cron_day_of_week"].help_text,
                schedule_help(self.instance),
            )
        if self.instance.pk:
            steps, variants = campaign_spec(self.instance)
        else:
            steps, variants = [{"delay_days": 0, "contents": {"A": {}}}], {"A": 100}
        variant_rows = [{"code": code, "weight": weight} for code, weight in variants.items()]
        message_rows = [
            {
                "step": index + 1,
                "delay_days": step["delay_days"],
                "variant": code,
                "subject": content.get("subject", ""),
                "body": content.get("body", ""),
                **_options_split(content.get("options") or {}),
            }
            for index, step in enumerate(steps)
            for code, content in step["contents"].items()
        ]
        data = self.data if self.is_bound else None
        self.variant_forms = VariantFormSet(data, prefix="variants", initial=variant_rows)
        self.message_forms = MessageFormSet(data, prefix="messages", initial=message_rows)
        self.variant_errors: list[str] = []
        self.message_errors: list[str] = []
        self.steps_spec: list[dict] = []
        self.variants_spec: dict[str, int] = {}

    @property
    def media(self):
        return super().media + self.variant_forms.media + self.message_forms.media

    def is_valid(self):
        valid = super().is_valid()
        return valid and self.variant_forms.is_valid() and self.message_forms.is_valid()

    def campaign_fields(self) -> dict:
        """The cleaned Campaign fields, as the services take them."""
        return {name: self.cleaned_data[name] for name in self._meta.fields if name in self.fields}

    # --- checking the whole ----------------------------------------------------------------

    def full_clean(self):
        super().full_clean()
        if not self.is_bound:
            return
        rows_valid = self.variant_forms.is_valid() & self.message_forms.is_valid()
        if rows_valid:
            self._build_spec()
        if self._errors or not rows_valid or self.variant_errors or self.message_errors:
            self._flag_rows()
            return
        try:
            campaign_check(
                campaign=self.instance, steps=self.steps_spec, variants=self.variants_spec
            )
        except ValidationError as exc:
            self._place(exc.message_dict)
        self._flag_rows()

    def _live(self, formset) -> list[forms.Form]:
        deleted = set(map(id, formset.deleted_forms))
        return [f for f in formset.forms if id(f) not in deleted and f.cleaned_data]

    def _build_spec(self) -> None:
        variants: dict[str, int] = {}
        for row in self._live(self.variant_forms):
            code = row.cleaned_data["code"]
            if code in variants:
                row.add_error("code", _("This variant is listed twice."))
            variants[code] = row.cleaned_data["weight"]
        steps: dict[int, dict] = {}
        self._rows: dict[tuple[int, str], forms.Form] = {}
        self._step_rows: dict[int, list[forms.Form]] = {}
        for row in self._live(self.message_forms):
            data = row.cleaned_data
            number, code = data["step"], data["variant"].strip()
            step = steps.setdefault(number, {"delay_days": data["delay_days"], "contents": {}})
            if step["delay_days"] != data["delay_days"]:
                row.add_error("delay_days", _("Messages of one step are sent the same day."))
            if code in step["contents"]:
                row.add_error("variant", _("This step already has a message for this variant."))
            step["contents"][code] = {
                "subject": data.get("subject", ""),
                "body": data.get("body", ""),
                "options": row.options(),
            }
            self._step_rows.setdefault(number, []).append(row)
            self._rows[(number, code)] = row
        numbers = sorted(steps)
        self._numbers = numbers
        self.steps_spec = [steps[number] for number in numbers]
        self.variants_spec = variants

    def _place(self, errors: dict[str, list[str]]) -> None:
        """Put each of the service's errors on the field, row or table it is about."""
        for key, messages in errors.items():
            match = STEP_ERROR.match(key)
            if key in self.fields:
                for message in messages:
                    self.add_error(key, message)
            elif key == "variants":
                self.variant_errors.extend(messages)
            elif key == "steps":
                self.message_errors.extend(messages)
            elif match and int(match.group(1)) < len(self._numbers):
                self._place_step(self._numbers[int(match.group(1))], match.group(2), messages)
            else:  # "schedule", and anything without a field of its own
                for message in messages:
                    self.add_error(None, message)

    def _place_step(self, number: int, rest: str | None, messages: list[str]) -> None:
        if rest is None:
            self.message_errors.extend(
                _("Step %(n)d: %(message)s") % {"n": number, "message": m} for m in messages
            )
            return
        if rest == "delay_days":
            for row in self._step_rows.get(number, []):
                for message in messages:
                    row.add_error("delay_days", message)
            return
        code, _sep, part = rest.partition(".")
        row = self._rows.get((number, code))
        if row is None:
            self.message_errors.extend(messages)
            return
        for message in messages:
            if part in ("subject", "body"):
                row.add_error(part, message)
            elif part.startswith("fields."):
                row.add_error("template_fields", f"{part.removeprefix('fields.')}: {message}")
            else:
                row.add_error(None, message)

    def _flag_rows(self) -> None:
        """The admin's "please correct" note counts this form's errors only: add one when
        the problems are in the variants or messages."""
        rows_bad = (
            self.variant_errors
            or self.message_errors
            or any(self.variant_forms.errors)
            or any(self.message_forms.errors)
            or self.variant_forms.non_form_errors()
            or self.message_forms.non_form_errors()
        )
        if rows_bad and NON_FIELD_ERRORS not in self._errors:
            self.add_error(None, _("Correct the variants and messages below."))
