"""Pagination for list endpoints."""

from rest_framework.pagination import CursorPagination


class DefaultCursorPagination(CursorPagination):
    """Cursor pages walk an index by key: no COUNT(*) and no OFFSET, fast on millions of rows."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"
