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
_FIELDS: dict[type, list[tuple[str, Any, bool]]] = {}
_SHAPES: dict[Any, tuple[Any, tuple[Any, ...], bool]] = {}


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


def _fields(cls: type) -> list[tuple[str, Any, bool]]:
    """(name, annotation, required) of each init field of `cls`, computed once per class:
    a no-op rerun loads thousands of records, so the walk must not redo the introspection."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = _hints(cls)
        found = _FIELDS[cls] = [
            (f.name, hints[f.name], f.default is dataclasses.MISSING
             and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(cls) if f.init]
    return found


def _shape(hint: Any) -> tuple[Any, tuple[Any, ...], bool]:
    """(origin, args, is a dataclass) of an annotation, cached (typing's lookups are slow)."""
    try:
        return _SHAPES[hint]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation: not cached
        return get_origin(hint), get_args(hint), False
    shape = (get_origin(hint), get_args(hint),
             isinstance(hint, type) and dataclasses.is_dataclass(hint))
    _SHAPES[hint] = shape
    return shape


def load_record(cls: type[T], data: Any, where: Location, key: str = "",
                error: type[ArchiverError] = RecordError) -> T:
    """An instance of the dataclass `cls` from JSON `data`; missing required keys and
    values of the wrong type are errors naming `key`."""
    if not isinstance(data, dict):
        raise _fail(where, key, f"expected an object, got {_shown(data)}", error)
    values: dict[str, Any] = {}
    for name, hint, required in _fields(cls):
        if name in data:
            values[name] = load(hint, data[name], where, _child(key, name), error)
        elif required:
            raise _fail(where, _child(key, name), "required but missing", error)
    return cls(**values)


def load(hint: Any, value: Any, where: Location, key: str,
         error: type[ArchiverError] = RecordError) -> Any:
    """`value` checked (and, for records, built) against the annotation `hint`."""
    if hint is str and type(value) is str:  # the common case first
        return value
    if hint is Any:
        return value
    origin, args, is_record = _shape(hint)
    if origin in (Union, types.UnionType):
        return _union(args, value, where, key, error)
    if origin is Literal:
        if value in args:
            return value
        choices = ", ".join(repr(choice) for choice in args)
        raise _fail(where, key, f"expected one of {choices}, got {_shown(value)}", error)
    if origin in (list, tuple, dict):
        return _container(origin, args, value, where, key, error)
    if is_record:
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

