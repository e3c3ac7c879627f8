"""A glossary service for the organizations, places, policies and events named in reporting on
North Korea."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask

from glossary.config import defaults, secret_key


def create_app(config: Mapping | None = None) -> Flask:
    """Build the application: defaults, then GLOSSARY_* environment variables, then `config`."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(defaults(app.instance_path))
    app.config.from_prefixed_env("GLOSSARY")
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret_key(app.instance_path)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    from glossary import api, cli, editor, errors, follow, reconcile, security, store, views
    from glossary.schemas import SafeJSONProvider

    app.json = SafeJSONProvider(app)
    store.init_app(app)
    errors.init_app(app)
    views.init_app(app)
    editor.init_app(app)
    security.init_app(app)
    cli.init_app(app)
    api.init_app(app)
    reconcile.init_app(app)
    if app.config["PREPARE_INDEXES"]:
        follow.init_app(app)
    return app
