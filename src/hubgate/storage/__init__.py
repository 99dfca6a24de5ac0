"""Persistence: SQLAlchemy Core tables, repositories returning plain dataclasses, migrations."""
