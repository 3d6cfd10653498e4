"""Typed records to JSON and back, checked against their own annotations.

Why one generic reader: every record that crosses a stage boundary is a dataclass, so its
annotations already say what a valid file holds. `load` walks them (str, int, float, bool,
None, unions, Literal, list, tuple, dict[str, T], nested dataclasses, Any) and refuses
anything else with a `RecordError` naming the file, the lesson and the key path
(`details.source.url`, `[3].end`), so a person can find the problem without a traceback.
Adding a field to a record is one line: its annotation is the rule, its default (if any)
is what an older file without it reads as. Unknown keys are ignored (a newer archiver may
have written them).
"""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from archiver.errors import ArchiverError, Location, RecordError

T = TypeVar("T")
_HINTS: dict[type, dict[str, Any]] = {}


OMIT_DEFAULT = {"omit_default": True}  # field metadata: written only when not the default


def _omitted(value: Any, spec: dataclasses.Field[Any]) -> bool:
    """An optional field added later that old files lack: left out while at its default, so
    records (and fingerprints computed from them) stay byte-identical for the common case."""
    if not spec.metadata.get("omit_default"):
        return False
    default = spec.default if spec.default_factory is dataclasses.MISSING \
        else spec.default_factory()
    return bool(getattr(value, spec.name) == default)


def dump(value: Any) -> Any:
    """JSON-ready data of a record (nested records, lists, tuples, dicts, paths)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not _omitted(value, f)}
    if isinstance(value, list | tuple):
        return [dump(item) for item in value]
    if isinstance(value, dict):
        return {str(key): dump(item) for key, item in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _fail(where: Location, key: str, message: str,
          error: type[ArchiverError] = RecordError) -> ArchiverError:
    return error(message, dataclasses.replace(where, key=key or where.key))


def _child(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def load_record(cls: type[T], data: Any, where: Location, key: str = "",
                error: type[ArchiverError] = RecordError) -> T:
    """An instance of the dataclass `cls` from JSON `data`; missing required keys and
    values of the wrong type are errors naming `key`."""
    if not isinstance(data, dict):
        raise _fail(where, key, f"expected an object, got {_shown(data)}", error)
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not field.init:
            continue
        sub = _child(key, field.name)
        if field.name in data:
            values[field.name] = load(hints[field.name], data[field.name], where, sub, error)
        elif (field.default is dataclasses.MISSING
              and field.default_factory is dataclasses.MISSING):
            raise _fail(where, sub, "required but missing", error)
    return cls(**values)


def load(hint: Any, value: Any, where: Location, key: str,
         error: type[ArchiverError] = RecordError) -> Any:
    """`value` checked (and, for records, built) against the annotation `hint`."""
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        return _union(get_args(hint), value, where, key, error)
    if origin is Literal:
        if value in get_args(hint):
            return value
        choices = ", ".join(repr(choice) for choice in get_args(hint))
        raise _fail(where, key, f"expected one of {choices}, got {_shown(value)}", error)
    if origin in (list, tuple, dict):
        return _container(origin, get_args(hint), value, where, key, error)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return load_record(hint, value, where, key, error)
    return _scalar(hint, value, where, key, error)


def _union(options: tuple[Any, ...], value: Any, where: Location, key: str,
           error: type[ArchiverError]) -> Any:
    if value is None and type(None) in options:
        return None
    first: ArchiverError | None = None
    for option in options:
        if option is type(None):
            continue
        try:
            return load(option, value, where, key, error)
        except ArchiverError as exc:
            first = first or exc
    raise first or _fail(where, key, f"unexpected {_shown(value)}", error)


def _container(origin: Any, args: tuple[Any, ...], value: Any, where: Location, key: str,
               error: type[ArchiverError]) -> Any:
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, key, f"expected an object, got {_shown(value)}", error)
        item = args[1] if args else Any
        return {str(k): load(item, v, where, _child(key, str(k)), error)
                for k, v in value.items()}
    if not isinstance(value, list):
        raise _fail(where, key, f"expected a list, got {_shown(value)}", error)
    item = args[0] if args else Any
    items = [load(item, v, where, f"{key}[{i}]", error) for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _scalar(hint: Any, value: Any, where: Location, key: str,
            error: type[ArchiverError]) -> Any:
    if hint is type(None) or hint is None:
        if value is None:
            return None
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint in (str, bool):
        if isinstance(value, hint):
            return value
    else:
        raise TypeError(f"unsupported annotation {hint!r} at {key}")
    name = getattr(hint, "__name__", str(hint))
    expected = {"str": "a string", "int": "an integer", "float": "a number",
                "bool": "true or false", "NoneType": "null"}.get(name, name)
    raise _fail(where, key, f"expected {expected}, got {_shown(value)}", error)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

