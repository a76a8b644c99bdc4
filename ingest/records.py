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


@functools.cache
def _enum_fields(cls: Any) -> dict[str, type[Enum]]:
    hints = typing.get_type_hints(cls)
    return {
        name: hint
        for name, hint in hints.items()
        if isinstance(hint, type) and issubclass(hint, Enum)
    }


@functools.cache
def _fields(cls: Any) -> tuple[tuple[str, Any], ...]:
    """(name, default) of each field (dataclasses.fields is slow for a per-hit call)."""
    return tuple((f.name, f.default) for f in dataclasses.fields(cls))


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
    enums = _enum_fields(cast(Hashable, cls))
    keys = set(record.keys())
    values: dict[str, Any] = {}
    for name, default in _fields(cast(Hashable, cls)):
        if name in overrides:
            values[name] = overrides[name]
            continue
        if name not in keys:
            continue
        value = record[name]
        if value is None and default not in (dataclasses.MISSING, None):
            continue  # the field's default
        values[name] = enums[name](value) if name in enums else value
    return cls(**values)
