"""SQL that differs between the two databases the project runs on (PostgreSQL and SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Integer, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def is_postgresql(db: Session) -> bool:
    return bool(db.get_bind().dialect.name == "postgresql")


def insert_for(db: Session) -> Callable[..., Any]:
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite alike)."""
    return postgresql.insert if is_postgresql(db) else sqlite.insert


def dialect_insert(db: Session, model: type[Any]) -> Any:
    """INSERT into `model` with ON CONFLICT support, for the database in use."""
    return insert_for(db)(model)


def among(db: Session, column: Any, ids: Sequence[int]) -> Any:
    """`column IN ids`; on PostgreSQL as one array parameter, whose lookup it hashes (a list of
    separate parameters is searched element by element, for every row)."""
    if is_postgresql(db):
        return column == any_(bindparam(None, list(ids), type_=postgresql.ARRAY(Integer)))
    return column.in_(list(ids))
