"""The notifier service's extensions: created here unbound, bound to the app in `create_app`.

Blueprints, commands and tasks import them from here, never from the app factory.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from shared.db import Database
from shared.http import OrganiserAuth

SERVICE = "notifier"
db = Database()
organiser_auth = OrganiserAuth()
csrf = CSRFProtect()
babel = Babel()


def init_database(app: Flask, url: str) -> None:
    """Bind `db`, plus two things for SQLite: kept connections, and secure delete."""
    db.init_app(app, url)
    if make_url(url).get_backend_name() != "sqlite":
        return
    # Closing the last connection to a WAL database checkpoints it: with a connection per
    # transaction that is a checkpoint and a new WAL per message. Keep a few open instead.
    db.configure(url, poolclass=QueuePool, pool_size=5, max_overflow=10)
    engine = db.engine
    assert engine is not None

    # Deleted rows are overwritten with zeros: an erased address is gone from the file too.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA secure_delete=ON")
