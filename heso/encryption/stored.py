"""Every stored secret, wherever a model declared one: check, re-encrypt, decrypt back.

The columns are found from the models' types (:class:`EncryptedString`, :class:`SealedJSON`),
plugins' tables included, so a new secret column needs no edit here. Rows are read and written
raw (the stored text, not through the column type), in primary-key batches, each row written
only if it still holds what was read: a configuration saved meanwhile is newer, and left alone.
The migration that first encrypted existing rows runs the same pass.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, select, tuple_, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.expression import TableClause, column, table

from heso.encryption.fields import reseal_fields
from heso.encryption.keys import PREFIX, KeyRing, SecretUnreadable, is_sealed, sealed_key_id
from heso.encryption.types import EncryptedString, SealedJSON
from heso.models_base import JSONDoc

SecretFieldsOf = Callable[[Mapping[str, Any]], Iterable[str]]
_KEY_IDS = re.compile(re.escape(PREFIX) + r"([0-9a-f]{8}):")


@dataclass(frozen=True)
class SecretColumn:
    """A column holding secrets, as a raw table: the column typed TEXT, or JSON with secret fields."""

    table: TableClause
    keys: tuple[str, ...]
    name: str
    is_json: bool
    secret_fields: SecretFieldsOf | None = None

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.name}"

    def fields_of(self, row: Mapping[Any, Any]) -> frozenset[str]:  # a RowMapping's keys are names or columns
        return frozenset(self.secret_fields(row)) if self.secret_fields else frozenset()


@dataclass
class Tally:
    """What a pass found in one column."""

    rows: int = 0
    changed: int = 0  # rows written
    plaintext: int = 0  # secret values stored in clear (check), or sealed now (rotate)
    by_key: Counter = field(default_factory=Counter)  # sealed values per key id
    unreadable: list[str] = field(default_factory=list)  # "<row key>: <why>"
    skipped: int = 0  # rows saved by someone else between our read and our write


def secret_columns(metadata: Any) -> list[SecretColumn]:
    """Every column of ``metadata`` typed EncryptedString or SealedJSON."""
    found = []
    for model_table in metadata.sorted_tables:
        for model_column in model_table.columns:
            if not isinstance(model_column.type, EncryptedString | SealedJSON):
                continue
            is_json = isinstance(model_column.type, SealedJSON)
            raw = table(model_table.name, *[
                column(other.name, (JSONDoc if is_json else Text) if other is model_column else other.type)
                for other in model_table.columns])
            found.append(SecretColumn(raw, tuple(key.name for key in model_table.primary_key.columns),
                                      model_column.name, is_json, model_column.info.get("secret_fields")))
    return found


def batches(connection: Connection, secret: SecretColumn, batch_size: int = 500) -> Iterator[Sequence[Row]]:
    """The table's rows in primary-key order, ``batch_size`` at a time; ``raw`` is the column's stored text."""
    keys = [secret.table.c[key] for key in secret.keys]
    others = [other for other in secret.table.c if other.name != secret.name]
    query = select(*others, cast(secret.table.c[secret.name], Text).label("raw")).order_by(*keys).limit(batch_size)
    after = None
    while True:
        rows = connection.execute(query if after is None else query.where(tuple_(*keys) > tuple_(*after))).all()
        if not rows:
            return
        yield rows
        after = tuple(rows[-1]._mapping[key] for key in secret.keys)


def _row_key(secret: SecretColumn, row: Row) -> str:
    return "/".join(str(row._mapping[key]) for key in secret.keys)


def _values(secret: SecretColumn, row: Row) -> tuple[Any, list[tuple[Any, bool]]]:
    """The stored value, and each (value, is a declared secret) in it."""
    if row.raw is None:
        return None, []
    if not secret.is_json:
        return row.raw, [(row.raw, True)]
    stored = json.loads(row.raw)
    if not isinstance(stored, dict):
        return stored, []
    secret_fields = secret.fields_of(row._mapping)
    return stored, [(value, key in secret_fields) for key, value in stored.items()]


def check(connection: Connection, secret: SecretColumn, ring: KeyRing) -> Tally:
    """Count sealed values per key, plaintext secrets, and values no configured key decrypts."""
    tally = Tally()
    for rows in batches(connection, secret):
        for row in rows:
            tally.rows += 1
            for value, declared in _values(secret, row)[1]:
                if is_sealed(value):
                    tally.by_key[sealed_key_id(value)] += 1
                    try:
                        ring.decrypt(value)
                    except SecretUnreadable as exc:
                        tally.unreadable.append(f"{_row_key(secret, row)}: {exc.message}")
                elif declared and value is not None:
                    tally.plaintext += 1
    return tally


def _sealed(secret: SecretColumn, row: Row, ring: KeyRing) -> tuple[Any, Any, int]:
    """(stored, the same under the primary key with its plaintext secrets sealed, how many those were)."""
    stored, values = _values(secret, row)
    plaintext = sum(1 for value, declared in values if declared and value is not None and not is_sealed(value))
    if not secret.is_json:
        return stored, (ring.rotate(stored) if is_sealed(stored) else ring.encrypt(stored)), plaintext
    if not isinstance(stored, dict):
        return stored, stored, 0
    return stored, reseal_fields(stored, secret.fields_of(row._mapping), ring), plaintext


def _opened(secret: SecretColumn, row: Row, ring: KeyRing) -> tuple[Any, Any, int]:
    """(stored, the same in clear, 0)."""
    stored, _ = _values(secret, row)
    if not secret.is_json:
        return stored, (ring.decrypt(stored) if is_sealed(stored) else stored), 0
    if not isinstance(stored, dict):
        return stored, stored, 0
    return stored, {key: json.loads(ring.decrypt(value)) if is_sealed(value) else value
                    for key, value in stored.items()}, 0


def reseal(connection: Connection, secret: SecretColumn, ring: KeyRing, *, decrypt: bool = False,
           commit: Callable[[], None] | None = None, batch_size: int = 500,
           progress: Callable[[Tally], None] | None = None) -> Tally:
    """Put every secret of the column under the first key (plaintext ones included), or, with
    ``decrypt``, back in clear (the migration's downgrade). ``commit`` ends each batch's
    transaction (the CLI); inside a migration the caller's transaction holds them all."""
    tally, transform = Tally(), _opened if decrypt else _sealed
    target = secret.table.c[secret.name]
    for rows in batches(connection, secret, batch_size):
        for row in rows:
            tally.rows += 1
            if row.raw is None:
                continue
            try:
                stored, new, plaintext = transform(secret, row, ring)
            except SecretUnreadable as exc:
                tally.unreadable.append(f"{_row_key(secret, row)}: {exc.message}")
                continue
            if new == stored:
                continue
            same_row = [secret.table.c[key] == row._mapping[key] for key in secret.keys]
            written = connection.execute(update(secret.table).where(*same_row, cast(target, Text) == row.raw)
                                         .values({secret.name: new})).rowcount
            tally.changed += written
            tally.plaintext += plaintext if written else 0
            tally.skipped += 1 - written
        if commit:
            commit()
        if progress:
            progress(tally)
    return tally


def foreign_keys(connection: Connection, columns: list[SecretColumn], ring: KeyRing) -> Counter:
    """Sealed values per key id that HESO_ENCRYPTION_KEYS does not hold (readiness: cheap once rotated).

    Only rows holding a value not under the first key are read (one LIKE per column), and the
    key ids are taken from the text: nothing is decrypted.
    """
    missing: Counter = Counter()
    for secret in columns:
        raw = cast(secret.table.c[secret.name], Text)
        query = select(raw).where(raw.like(f"%{PREFIX}%"), raw.not_like(f"%{PREFIX}{ring.primary}:%"))
        for (text,) in connection.execute(query):
            missing.update(kid for kid in _KEY_IDS.findall(text) if kid not in ring.ids)
    return missing
