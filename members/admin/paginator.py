"""A paginator that does not COUNT(*) a million rows on every admin page load."""

from __future__ import annotations

import json
import logging

from django.core.paginator import Paginator
from django.db import DatabaseError, connections, transaction
from django.utils.functional import cached_property

logger = logging.getLogger(__name__)

# Below this many rows (by the planner's estimate) an exact count is cheap enough to run.
EXACT_COUNT_BELOW = 10_000


def planner_row_estimate(queryset) -> int | None:
    """PostgreSQL's estimate of how many rows ``queryset`` returns, from EXPLAIN; None elsewhere.

    EXPLAIN costs a planning pass, not a scan. Unlike pg_class.reltuples it also covers
    filtered lists (the members list always filters on status), at the planner's accuracy.
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.get_compiler(using=queryset.db).as_sql()
    try:
        # A savepoint, so a failed EXPLAIN cannot break a surrounding transaction.
        with transaction.atomic(using=queryset.db), connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
    except DatabaseError:
        logger.warning("could not estimate the row count", exc_info=True)
        return None
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """Counts exactly when the result is small (or off PostgreSQL); estimates large results.

    An estimate can be off by a few percent: the admin then shows an approximate total and the
    last page may come out short or empty, which is the price of not scanning the table.
    """

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if hasattr(object_list, "query"):
            estimate = planner_row_estimate(object_list)
            if estimate is not None and estimate >= EXACT_COUNT_BELOW:
                return estimate
        return super().count
