# Event.recorded_at: when the event row was written. The dispatch sweep
# (members.events.events_redispatch_stale) used occurred_at, so an order.paid event for an order
# paid days ago was "stale" the moment it was written and sent a second time at once.
#
# Adding the column with a database default of now() is instant on PostgreSQL (no table
# rewrite); existing rows are then backfilled from occurred_at, the best estimate of when they
# were written, in chunks of ids that each commit on their own (the migration is not atomic), so
# the event table is never locked for the whole backfill.

import django.db.models.functions.datetime
import django.utils.timezone
from django.db import migrations, models

CHUNK = 50_000


def backfill(apps, schema_editor):
    Event = apps.get_model("members", "Event")
    db = schema_editor.connection.alias
    events = Event.objects.using(db)
    last = events.order_by("-pk").values_list("pk", flat=True).first()
    if last is None:
        return
    first = events.order_by("pk").values_list("pk", flat=True).first()
    for start in range(first, last + 1, CHUNK):
        events.filter(pk__gte=start, pk__lt=start + CHUNK).update(
            recorded_at=models.F("occurred_at")
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("members", "0010_member_search_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="recorded_at",
            field=models.DateTimeField(
                db_default=django.db.models.functions.datetime.Now(),
                default=django.utils.timezone.now,
                editable=False,
                verbose_name="recorded at",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
