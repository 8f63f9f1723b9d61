"""Alembic migrations for toxbot's database."""
