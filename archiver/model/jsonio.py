"""Typed records to JSON and back, checked against their own annotations.

Why one generic reader: every record that crosses a stage boundary is a dataclass, so its
annotations already say what a valid file holds. `load` follows them (str, int, float, bool,
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
from collections.abc import Callable
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


def _fields(cls: type) -> list[tuple[str, Any, bool]]:
    """(name, annotation, required) of each init field of `cls`."""
    hints = _hints(cls)
    return [(f.name, hints[f.name], f.default is dataclasses.MISSING
             and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(cls) if f.init]


# A loader checks (and, for records, builds) one value against one annotation:
# loader(value, where, key, error) -> the value. One is made per annotation, once per process.
Loader = Callable[[Any, Location, str, type[ArchiverError]], Any]
_LOADERS: dict[Any, Loader] = {}


def load_record(cls: type[T], data: Any, where: Location, key: str = "",
                error: type[ArchiverError] = RecordError) -> T:
    """An instance of the dataclass `cls` from JSON `data`; missing required keys and
    values of the wrong type are errors naming `key`."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a record (a dataclass)")
    loaded: T = _loader(cls)(data, where, key, error)
    return loaded


def load(hint: Any, value: Any, where: Location, key: str,
         error: type[ArchiverError] = RecordError) -> Any:
    """`value` checked (and, for records, built) against the annotation `hint`."""
    return _loader(hint)(value, where, key, error)


def _loader(hint: Any) -> Loader:
    """The loader of an annotation, made once and kept.

    Why compiled loaders rather than one walk that inspects each annotation per value: a
    rerun of a large archive loads three records per lesson, each some 250 values, and
    asking typing what an annotation is, for every value, cost more than parsing the JSON.
    """
    try:
        return _LOADERS[hint]
    except KeyError:
        pass
    except TypeError:  # an unhashable annotation: made each time
        return _make(hint)
    made = _LOADERS[hint] = _make(hint)
    return made


def _make(hint: Any) -> Loader:
    if hint is Any:
        return _any
    if hint is str:
        return _str
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return _union_loader(args)
    if origin is Literal:
        return _literal_loader(args)
    if origin in (list, tuple):
        return _list_loader(args[0] if args else Any, origin is tuple)
    if origin is dict:
        return _dict_loader(args[1] if args else Any)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record_loader(hint)
    return _scalar_loader(hint)


def _any(value: Any, where: Location, key: str, error: type[ArchiverError]) -> Any:
    return value


def _str(value: Any, where: Location, key: str, error: type[ArchiverError]) -> Any:
    if isinstance(value, str):
        return value
    raise _fail(where, key, f"expected a string, got {_shown(value)}", error)


def _record_loader(cls: type) -> Loader:
    # made on first use (a record may nest itself: its field loaders cannot all exist before
    # it does), complete before it is stored, so a thread never sees half of the list
    made: list[list[tuple[str, Loader, bool]]] = []

    def load_one(data: Any, where: Location, key: str, error: type[ArchiverError]) -> Any:
        if not isinstance(data, dict):
            raise _fail(where, key, f"expected an object, got {_shown(data)}", error)
        if not made:
            made.append([(name, _loader(hint), required)
                         for name, hint, required in _fields(cls)])
        values: dict[str, Any] = {}
        for name, field_loader, required in made[0]:
            if name in data:
                values[name] = field_loader(data[name], where, _child(key, name), error)
            elif required:
                raise _fail(where, _child(key, name), "required but missing", error)
        return cls(**values)
    return load_one


def _union_loader(args: tuple[Any, ...]) -> Loader:
    nullable = type(None) in args
    options = [option for option in args if option is not type(None)]

    def load_one(value: Any, where: Location, key: str, error: type[ArchiverError]) -> Any:
        if value is None and nullable:
            return None
        first: ArchiverError | None = None
        for option in options:
            try:
                return _loader(option)(value, where, key, error)
            except ArchiverError as exc:
                first = first or exc
        raise first or _fail(where, key, f"unexpected {_shown(value)}", error)
    return load_one


def _literal_loader(args: tuple[Any, ...]) -> Loader:
    def load_one(value: Any, where: Location, key: str, error: type[ArchiverError]) -> Any:
        if value in args:
            return value
        choices = ", ".join(repr(choice) for choice in args)
        raise _fail(where, key, f"expected one of {choices}, got {_shown(value)}", error)
    return load_one


def _list_loader(item: Any, as_tuple: bool) -> Loader:
    def load_one(value: Any, where: Location, key: str, error: type[ArchiverError]) -> Any:
        if not isinstance(value, list):
            raise _fail(where, key, f"expected a list, got {_shown(value)}", error)
        each = _loader(item)
        items = [each(v, where, f"{key}[{i}]", error) for i, v in enumerate(value)]
        return tuple(items) if as_tuple else items
    return load_one


def _dict_loader(item: Any) -> Loader:
    def load_one(value: Any, where: Location, key: str, error: type[ArchiverError]) -> Any:
        if not isinstance(value, dict):
            raise _fail(where, key, f"expected an object, got {_shown(value)}", error)
        each = _loader(item)
        return {str(k): each(v, where, _child(key, str(k)), error) for k, v in value.items()}
    return load_one


_EXPECTED = {"str": "a string", "int": "an integer", "float": "a number",
             "bool": "true or false", "NoneType": "null"}


def _scalar_loader(hint: Any) -> Loader:
    if hint is type(None) or hint is None:
        def accepts(value: Any) -> bool:
            return value is None
    elif hint is float:
        def accepts(value: Any) -> bool:
            return isinstance(value, int | float) and not isinstance(value, bool)
    elif hint is int:
        def accepts(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)
    elif hint in (str, bool):
        def accepts(value: Any) -> bool:
            return isinstance(value, hint)
    else:  # a programming error, raised when a value meets it (as the walk before did)
        def unsupported(value: Any, where: Location, key: str,
                        error: type[ArchiverError]) -> Any:
            raise TypeError(f"unsupported annotation {hint!r} at {key}")
        return unsupported
    convert = float if hint is float else None
    name = getattr(hint, "__name__", str(hint))
    expected = _EXPECTED.get(name, name)

    def load_one(value: Any, where: Location, key: str, error: type[ArchiverError]) -> Any:
        if accepts(value):
            return convert(value) if convert is not None else value
        raise _fail(where, key, f"expected {expected}, got {_shown(value)}", error)
    return load_one


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

