"""Alembic environment: migrations run on the connection the store hands over."""

from alembic import context
from sqlalchemy import create_engine

from glossary.models import Base

target_metadata = Base.metadata


def run() -> None:
    """Run migrations on the given connection, or on a URL for `alembic revision` by hand."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            context.configure(
                connection=conn, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
