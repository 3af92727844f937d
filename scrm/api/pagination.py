"""Pagination for list endpoints."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

# Keys are 64-bit; a larger position in a hand-made cursor can match nothing.
MAX_KEY = 2**63 - 1


class DefaultCursorPagination(CursorPagination):
    """Cursor pages walk an index by key: no COUNT(*) and no OFFSET, fast on millions of rows."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def get_page_size(self, request):
        """``page_size`` a whole number from 1, capped at ``max_page_size``; anything else is
        a 400 saying so (DRF would quietly serve the default, and a client would never learn
        its mistake)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = int(raw) if raw.isdigit() else 0
        if size < 1:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        _("A whole number from 1 (at most %(max)d are served).")
                        % {"max": self.max_page_size}
                    ]
                }
            )
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = (
                    f"Rows per page, default {self.page_size}, at most {self.max_page_size}."
                )
        return parameters

    def paginate_rows(self, request, fetch: Callable[..., list[dict]]) -> list[dict]:
        """DRF's cursor pagination for a page the caller fetches itself, in one statement.

        Same cursors, page sizes, ``next``/``previous`` links and error (404 "Invalid cursor")
        as ``paginate_queryset``, for an ordering on one unique integer key (``id``/``-id``).
        ``fetch(after=, descending=, offset=, limit=)`` returns up to ``limit`` rows (dicts
        carrying the key) with a key beyond ``after`` (below it when ``descending``; ``after``
        None means from the start), in that order, skipping ``offset`` rows first.

        What DRF does with a queryset, minus the ORM: the caller can render the page in the
        statement that finds it, and the cursor's position is checked to be a key instead of
        reaching the database as text (a hand-made cursor with p=abc was a 500)."""
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.ordering = (self.ordering,) if isinstance(self.ordering, str) else tuple(self.ordering)
        order = self.ordering[0]
        if len(self.ordering) != 1 or "__" in order:
            raise ValueError("paginate_rows needs an ordering on one unique key")
        self.cursor = self.decode_cursor(request)
        if self.cursor is None:
            offset, reverse, current_position = 0, False, None
        else:
            offset, reverse, current_position = self.cursor
        after = None
        if current_position is not None:
            try:
                after = int(current_position)
            except ValueError:
                raise NotFound(self.invalid_cursor_message) from None
            if not -MAX_KEY <= after <= MAX_KEY:
                raise NotFound(self.invalid_cursor_message)
        # Walk the key downwards for "-id" forwards and for "id" backwards (DRF's XOR).
        descending = order.startswith("-") != reverse
        results = fetch(after=after, descending=descending, offset=offset, limit=self.page_size + 1)
        self.page = list(results[: self.page_size])
        if len(results) > len(self.page):
            has_following_position = True
            following_position = self._get_position_from_instance(results[-1], self.ordering)
        else:
            has_following_position = False
            following_position = None
        if reverse:
            self.page = list(reversed(self.page))
            self.has_next = (current_position is not None) or (offset > 0)
            self.has_previous = has_following_position
            if self.has_next:
                self.next_position = current_position
            if self.has_previous:
                self.previous_position = following_position
        else:
            self.has_next = has_following_position
            self.has_previous = (current_position is not None) or (offset > 0)
            if self.has_next:
                self.next_position = following_position
            if self.has_previous:
                self.previous_position = current_position
        if (self.has_previous or self.has_next) and self.template is not None:
            self.display_page_controls = True
        return self.page
