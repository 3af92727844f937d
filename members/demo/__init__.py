"""Demo data: `python manage.py seed_demo --members N [--seed S]` (see docs/csv-import.md)."""
