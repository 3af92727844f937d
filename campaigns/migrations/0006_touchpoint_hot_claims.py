"""Claims become HOT updates: the index on claimed_at goes (stale claims are found through the
due index); rows left in "sending" go back to "pending" with their claim kept (the timeout
still applies to them), and a small partial index keeps any that a worker of the older release
leaves there until the sweep hands them back. On PostgreSQL the outbox leaves half of each page
free, room for the claimed version of each row beside the inserted one, and its key compares
bytewise (COLLATE "C": its unique index is the dearest to keep in a fan-out; equality is the
same under any deterministic collation, and nothing sorts by key)."""

from django.db import migrations, models

FILLFACTOR = 50


def postgresql_set(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE campaigns_touchpoint SET (fillfactor = {FILLFACTOR})")
        schema_editor.execute(
            'ALTER TABLE campaigns_touchpoint ALTER COLUMN "key" TYPE varchar(80) COLLATE "C"'
        )


def postgresql_reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE campaigns_touchpoint RESET (fillfactor)")
        schema_editor.execute(
            'ALTER TABLE campaigns_touchpoint ALTER COLUMN "key" TYPE varchar(80) COLLATE "default"'
        )


def sending_to_pending(apps, schema_editor):
    Touchpoint = apps.get_model("campaigns", "Touchpoint")
    Touchpoint.objects.filter(state="sending").update(state="pending")


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0005_touchpoint_lean"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="touchpoint", name="touchpoint_claimed"),
        migrations.AddIndex(
            model_name="touchpoint",
            index=models.Index(
                condition=models.Q(("state", "sending")),
                fields=["id"],
                name="touchpoint_sending",
            ),
        ),
        migrations.RunPython(sending_to_pending, migrations.RunPython.noop),
        migrations.RunPython(postgresql_set, postgresql_reset),
    ]
