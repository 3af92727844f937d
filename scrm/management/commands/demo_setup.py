"""python manage.py demo_setup [--members N]: an admin login and demo data for `make run`."""

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError

ADMIN_URL = "http://127.0.0.1:8000/admin/"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"
DEMO_SEED = 42


class Command(BaseCommand):
    help = (
        "Development only (DEBUG=1): create the superuser admin/admin and load demo data once. "
        "Safe to run again: it changes nothing that already exists."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members", type=int, default=2000, help="How many demo members to load (once)."
        )

    def handle(self, *args, **options):
        """Refuse outside DEBUG, then ensure the admin user and the demo data."""
        # A well-known password and fake members must never reach a production database.
        if not settings.DEBUG:
            raise CommandError(
                "demo_setup creates the user admin/admin and fake members, so it only runs with "
                "DEBUG on (DEBUG=1 in .env or the environment). Refusing with DEBUG off."
            )
        created = self.ensure_admin()
        self.ensure_demo_data(members=options["members"])
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Ready. Sign in to the admin:"))
        self.stdout.write(f"  URL:      {ADMIN_URL}")
        self.stdout.write(f"  user:     {ADMIN_USERNAME}")
        note = "" if created else "  (unless you have changed it)"
        self.stdout.write(f"  password: {ADMIN_PASSWORD}{note}")
        self.stdout.write("  API docs: http://127.0.0.1:8000/api/docs/   health: /healthz")

    def ensure_admin(self) -> bool:
        """Create the superuser ``admin`` unless that user exists; True when it was created."""
        user_model = get_user_model()
        if user_model.objects.filter(username=ADMIN_USERNAME).exists():
            # Someone may have changed the password on purpose; a re-run must not reset it.
            self.stdout.write(f"User {ADMIN_USERNAME!r} exists, left unchanged.")
            return False
        user_model.objects.create_superuser(
            username=ADMIN_USERNAME, email="admin@example.com", password=ADMIN_PASSWORD
        )
        self.stdout.write(f"Created superuser {ADMIN_USERNAME!r}.")
        return True

    def ensure_demo_data(self, *, members: int) -> None:
        """Run the members app's ``seed_demo`` once, when it exists and no member exists yet."""
        # Looked up at run time so this command keeps working while the members app grows
        # (or if it is ever left out of INSTALLED_APPS).
        try:
            member_model = apps.get_model("members", "Member")
        except LookupError:
            self.stdout.write("No members app: demo data skipped.")
            return
        if "seed_demo" not in get_commands():
            self.stdout.write("The members app has no seed_demo command yet: demo data skipped.")
            return
        if member_model.objects.exists():
            # Any member, demo or real, means the database is in use: never add fake ones.
            self.stdout.write("Members exist already: demo data not loaded again.")
            return
        self.stdout.write(f"Loading demo data: {members} members (seed {DEMO_SEED}) ...")
        call_command("seed_demo", members=members, seed=DEMO_SEED, stdout=self.stdout)
        # Apps that build on the members' demo data add theirs, when they have a command.
        for command in ("seed_referrals_demo", "seed_groups_demo", "seed_campaigns_demo"):
            if command in get_commands():
                call_command(command, seed=DEMO_SEED, stdout=self.stdout)
