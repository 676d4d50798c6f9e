"""Database engines and sessions (SQLAlchemy 2), for PostgreSQL and SQLite alike."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import DateTime, Engine, String, TypeDecorator, create_engine, event, func, select
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored in UTC; SQLite gives naive ones back, so we re-attach UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _configure_sqlite(engine: Engine) -> None:
    # Python's sqlite3 opens transactions lazily and too late for a write lock;
    # we take over: every transaction is BEGIN IMMEDIATE, so writers queue up
    # (busy timeout) instead of failing with "database is locked" on upgrade.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten with zeros, not left in free pages (erasure erases).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A failing statement's error (logged, raised to a worker) must not carry names and addresses.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("poolclass", NullPool)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    # Measured on PostgreSQL 15 via psycopg 3 (make bench): a pre-ping costs a round trip per
    # checkout; psycopg's server-side prepared statements (from a statement's fifth run on a
    # connection) save the planning, 1 ms for a feedback POST, and raised the registration
    # and feedback rushes by a quarter or more.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 600)
    kwargs.setdefault("connect_args", {"prepare_threshold": 5})
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "handle_error", _without_values)
    return engine


def _without_values(context: ExceptionContext) -> None:
    """Drop PostgreSQL's DETAIL from an error's text: it quotes values ("Key (email)=(...)")."""
    for error in (context.original_exception, context.sqlalchemy_exception):
        if error is not None and len(error.args) == 1 and isinstance(error.args[0], str):
            error.args = (_DETAIL.sub("", error.args[0]),)


# From "DETAIL:" to the line SQLAlchemy adds after it ("[SQL: ..."), or to the end.
_DETAIL = re.compile(r"\nDETAIL:.*?(?=\n\[SQL|\Z)", re.DOTALL)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run `callback` once the session's transaction has committed."""
    event.listen(session, "after_commit", lambda _session: callback(), once=True)


def serialise_on(session: Session, key: str) -> None:
    """Queue this transaction behind any other that called this with the same key, until commit.

    PostgreSQL: a transaction-scoped advisory lock. SQLite needs none: its transactions are
    serial already (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


def forget_deleted_rows(session: Session) -> None:
    """Once this transaction commits, leave no copy of what it deleted in SQLite's WAL.

    secure_delete zeroes deleted rows in the database file, but the WAL keeps the old pages
    until a checkpoint; TRUNCATE copies the WAL back and empties it. (No-op on PostgreSQL.)
    """
    engine = session.get_bind()
    if isinstance(engine, Engine) and engine.dialect.name == "sqlite":
        after_commit(session, lambda: truncate_wal(engine))


def truncate_wal(engine: Engine) -> bool:
    """Checkpoint SQLite's WAL and truncate it to zero bytes; False if a reader held it back."""
    connection = engine.raw_connection()
    try:
        # The raw connection is in autocommit mode (see _configure_sqlite): no BEGIN around it.
        cursor = connection.cursor()
        busy, _frames, _copied = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        connection.close()
    if busy:
        log.warning("sqlite.wal_not_truncated", database=engine.url.database)
    return not busy


class Database:
    """One engine and session factory per service; bound to a Flask app with init_app."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker[Session] | None = None

    def configure(self, url: str, **kwargs: Any) -> None:
        if self.engine is not None:
            self.engine.dispose()
        self.engine = make_engine(url, **kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    def init_app(self, app: Any, url: str) -> None:
        self.configure(url)
        app.extensions["database"] = self

        @app.teardown_appcontext  # type: ignore[untyped-decorator]
        def _close(_exc: BaseException | None) -> None:
            from flask import g

            session = g.pop("db_session", None)
            if session is not None:
                session.close()

    @property
    def session(self) -> Session:
        """The session of the current Flask app context, opened on first use."""
        from flask import g

        if "db_session" not in g:
            g.db_session = self.new_session()
        session: Session = g.db_session
        return session

    def new_session(self) -> Session:
        if self.sessionmaker is None:
            raise RuntimeError("Database is not configured")
        return self.sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction committed on success, rolled back on error."""
        with self.new_session() as session, session.begin():
            yield session


UUID_LENGTH = 32
IdColumn = String(UUID_LENGTH)
