"""Model fields of the referrals app."""

from __future__ import annotations

from django.db import models


class TreePathField(models.TextField):
    """A materialised path such as ``/12/345/6789/`` (ids from the root down to the node).

    Subtrees are read as a range ``path >= '/12/' AND path < '/120'`` ('0' follows '/' in
    byte order), which a plain B-tree index answers on SQLite and PostgreSQL alike, provided the
    column compares bytes. SQLite does by default (BINARY); on PostgreSQL the column gets the
    "C" collation, so a database created with a linguistic collation (en_US.UTF-8, which
    ignores punctuation when sorting) still orders paths byte by byte. FACTS.md: a text path
    read by prefix answered a 25k subtree in 2 ms, against 55 ms for a recursive CTE.
    """

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params
