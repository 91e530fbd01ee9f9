"""This plugin's migration source: Alembic's env.py and the revisions in versions/ (see register_migrations)."""
