"""One mapping per domain record: a dataclass (Document, Unit, Job) <-> a flat mapping of
plain values, written once here for the registry's rows and the index's payloads.

Fields map by name; an enum is stored as its value; a null where the field has a non-null
default reads as that default (payloads written before the field existed). Image paths are
the caller's business: the registry and the index both store them as blob keys.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
import typing
from collections.abc import Hashable, Mapping
from enum import Enum
from typing import Any, TypeVar, cast

T = TypeVar("T")


_ABSENT = object()


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    """How `from_record` reads one field: its name, whether a null reads as the field's
    default (a non-null default), and the enum's value -> member map if it is an enum."""

    name: str
    null_is_default: bool
    enum: type[Enum] | None
    members: Mapping[Any, Enum]


@functools.cache
def _plan(cls: Any) -> tuple[_Field, ...]:
    """The fields of `cls` as `from_record` reads them, worked out once per class (every
    search hit is a `from_record` call: dataclasses.fields and Enum(value) per hit were
    most of its cost)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints.get(f.name)
        enum = hint if isinstance(hint, type) and issubclass(hint, Enum) else None
        members = {m.value: m for m in enum} if enum is not None else {}
        out.append(_Field(f.name, f.default not in (dataclasses.MISSING, None), enum, members))
    return tuple(out)


def to_record(obj: Any, **overrides: Any) -> dict[str, Any]:
    """A dataclass instance as {field: plain value} (enums as values), `overrides` applied."""
    record = {
        f.name: getattr(obj, f.name).value
        if isinstance(getattr(obj, f.name), Enum)
        else getattr(obj, f.name)
        for f in dataclasses.fields(obj)
    }
    return record | overrides


def from_record(cls: type[T], record: Mapping[str, Any] | sqlite3.Row, **overrides: Any) -> T:
    """An instance of the dataclass `cls` from a mapping with (at least) its required fields;
    extra keys are ignored, `overrides` replace values."""
    if isinstance(record, sqlite3.Row):
        record = dict(zip(record.keys(), record, strict=True))
    get = record.get
    values: dict[str, Any] = {}
    for f in _plan(cast(Hashable, cls)):
        if f.name in overrides:
            values[f.name] = overrides[f.name]
            continue
        value = get(f.name, _ABSENT)
        if value is _ABSENT or (value is None and f.null_is_default):
            continue  # absent, or null where the field has a default: the default
        if f.enum is not None and value is not None:
            member = f.members.get(value)
            value = member if member is not None else f.enum(value)  # unknown: ValueError
        values[f.name] = value
    return cls(**values)
