# Indexes for the admin's member search (members.admin.member.MemberAdmin.get_search_results),
# which otherwise scans the member table at a million rows:
#
# - member_name_trgm (PostgreSQL only): a trigram GIN index on UPPER(name), the expression
#   Django's name__icontains / name__istartswith compare, so a name search of three or more
#   characters (substring) or of one or two (prefix) is an index scan. Needs pg_trgm (shipped
#   with PostgreSQL; a trusted extension since 13, so the database owner may create it). It is
#   not in the model's state: SQLite has no GIN indexes, and the test database (built from the
#   models) would fail to create it there.
# - member_phone_last4 (every database, in the model's state): a B-tree on RIGHT(phone, 4), for
#   the "last four digits" search.
#
# Not atomic: on PostgreSQL both are built CONCURRENTLY, so pushes and sign-ins keep writing to
# the member table while the indexes build (a plain CREATE INDEX blocks writes for the whole
# build, seconds to minutes at 1M rows).

from django.db import migrations, models
from django.db.models.functions import Right

TABLE = "members_member"
# name -> (USING clause and expression), created on PostgreSQL by create_search_indexes.
POSTGRES_INDEXES = {
    "member_name_trgm": "USING gin (UPPER(name) gin_trgm_ops)",
    "member_phone_last4": '(RIGHT(phone, 4))',
}
PHONE_LAST4 = models.Index(Right("phone", 4), name="member_phone_last4")


def _invalid(cursor, name: str) -> bool:
    """True when an earlier CONCURRENTLY build of ``name`` failed and left an invalid index."""
    cursor.execute(
        "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = %s AND NOT i.indisvalid",
        [name],
    )
    return cursor.fetchone() is not None


def create_search_indexes(schema_editor) -> None:
    """Create pg_trgm and the PostgreSQL search indexes (idempotent). CONCURRENTLY outside a
    transaction; inside one (a test) a plain CREATE INDEX."""
    connection = schema_editor.connection
    concurrently = "" if connection.in_atomic_block else " CONCURRENTLY"
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, definition in POSTGRES_INDEXES.items():
            if _invalid(cursor, name):
                cursor.execute(f"DROP INDEX{concurrently} IF EXISTS {name}")
            cursor.execute(
                f"CREATE INDEX{concurrently} IF NOT EXISTS {name} ON {TABLE} {definition}"
            )


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        create_search_indexes(schema_editor)
    else:
        schema_editor.add_index(apps.get_model("members", "Member"), PHONE_LAST4)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        concurrently = "" if schema_editor.connection.in_atomic_block else " CONCURRENTLY"
        # pg_trgm stays: other indexes or tools of the database may use it.
        for name in POSTGRES_INDEXES:
            schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {name}")
    else:
        schema_editor.remove_index(apps.get_model("members", "Member"), PHONE_LAST4)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("members", "0009_coupon_issue_key"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="member", index=PHONE_LAST4)],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
