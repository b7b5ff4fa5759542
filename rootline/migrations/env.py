"""Alembic environment: runs migrations on the engine handed in by ``rootline.db.migrate``."""

from __future__ import annotations

from alembic import context

from rootline.migrations.metadata import target_metadata

config = context.config


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from rootline.config import get_settings
        from rootline.db import make_engine

        engine = make_engine(get_settings().resolved_database_url())
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; pass a database URL")
run_migrations_online()
