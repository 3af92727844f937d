"""Message templates: ``{{ variable }}`` placeholders from a fixed list, nothing else.

Operators write the copy; it is rendered for a million members, so it is not a template
language: no tags, filters or attribute access, only the variables below, checked when the
campaign is saved (an unknown one is refused then, never discovered at send time). Values are
inserted as plain text; channels that send HTML escape them.

Other apps add variables (the referral link) with ``template_variable_register`` and a resolver
that fills them for a batch of members at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

PLACEHOLDER = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")
# Anything that looks like template syntax but is not a plain placeholder is refused, so an
# operator's typo ("{{ name }", "{% if %}") is caught at save time rather than sent.
STRAY = re.compile(r"{{|}}|{%|%}")


@dataclass(frozen=True)
class TemplateVariable:
    """A placeholder: its label for the editor, a sample for previews, and (for variables
    other apps provide) a resolver ``(member_ids) -> {member_id: text}`` run once per batch."""

    name: str
    label: str
    sample: str
    resolver: Callable[[list[int]], dict[int, str]] | None = None


_variables: dict[str, TemplateVariable] = {}


def template_variable_register(variable: TemplateVariable) -> None:
    """Make ``{{ variable.name }}`` usable in campaign content (call from AppConfig.ready())."""
    _variables[variable.name] = variable


def template_variables() -> list[TemplateVariable]:
    """The variables content may use."""
    return list(_variables.values())


for _builtin in (
    TemplateVariable("member_name", _("member's name"), "王小明"),
    TemplateVariable("guide_name", _("owning guide's name"), "李导购"),
    TemplateVariable("store_name", _("home store's name"), "上海静安店"),
    TemplateVariable("coupon_code", _("code of the coupon this message carries"), "CP8K2M4Q"),
):
    template_variable_register(_builtin)


class TemplateError(ValueError):
    """The text uses something that is not a known variable."""


def template_check(text: str) -> list[str]:
    """The variables ``text`` uses; TemplateError naming the unknown ones or stray braces."""
    used = PLACEHOLDER.findall(text or "")
    unknown = sorted({name for name in used if name not in _variables})
    if unknown:
        raise TemplateError(
            _("Unknown variable(s): %(names)s. Available: %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(sorted(_variables))}
        )
    if STRAY.search(PLACEHOLDER.sub("", text or "")):
        raise TemplateError(_("Use {{ variable }} placeholders only; check the braces."))
    return list(dict.fromkeys(used))


class CompiledTemplate:
    """A checked template split once into literal parts and variable names, so rendering a
    batch is a join per member."""

    def __init__(self, text: str):
        template_check(text)
        self.parts: list[tuple[bool, str]] = []
        position = 0
        for match in PLACEHOLDER.finditer(text):
            self.parts.append((False, text[position : match.start()]))
            self.parts.append((True, match.group(1)))
            position = match.end()
        self.parts.append((False, text[position:]))
        self.variables = [value for is_var, value in self.parts if is_var]

    def render(self, values: dict[str, str]) -> str:
        """The text with every placeholder replaced (missing values render empty)."""
        return "".join(values.get(value) or "" if is_var else value for is_var, value in self.parts)


def template_sample(text: str) -> str:
    """``text`` rendered with each variable's sample value (editor previews)."""
    return CompiledTemplate(text).render({v.name: v.sample for v in _variables.values()})


def app_variable_values(names: list[str], member_ids: list[int]) -> dict[str, dict[int, str]]:
    """Values of the app-provided variables among ``names`` for a batch of members."""
    values = {}
    for name in names:
        variable = _variables.get(name)
        if variable is not None and variable.resolver is not None:
            values[name] = variable.resolver(member_ids)
    return values
