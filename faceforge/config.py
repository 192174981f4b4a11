"""The one typed configuration engine: model configs and run options are dataclasses read by these functions.

A config is a dataclass whose annotations say what each value may be: ``bool``, ``int``, ``float``, ``str``,
``pathlib.Path``, ``Literal[...]``, an ``Enum``, ``X | None``, ``tuple[X, ...]`` / ``tuple[X, Y]`` /
``list[X]``, ``Any``, or another dataclass (nested). Values come from three places, in this order:

* Python (a model's constructor) and JSON (``config.json``): ``strict`` typing, so a saved config reloads to
  the exact network. Only ints widen to floats and lists become tuples.
* YAML files (run configs): as strict, but numbers written as strings (YAML 1.1 reads ``1e-4`` as a string)
  and integral floats (``1000.0``) are accepted.
* The command line: ``key=value`` texts, with dotted keys into nested dataclasses
  (``options.net.channels=32``); ``"true"``, ``"1e-4"``, ``"0.9,0.95"`` and ``"none"`` are read by type.

Every refusal is a :class:`ConfigError` (a ``ValueError``) that names the key, the value and what is allowed:
the close key for a typo, the choices of a ``Literal`` or an ``Enum``.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from faceforge.errors import FaceForgeError

Mode = Literal["strict", "yaml", "text"]

__all__ = ["ConfigError", "build", "coerce", "field_types", "merge_overrides", "parse_overrides", "to_plain"]


class ConfigError(FaceForgeError, ValueError):
    """A config that cannot be used: unknown key, value of the wrong type, impossible setting."""


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass (``{}`` where they cannot be resolved)."""
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}


def describe(hint: Any) -> str:
    """A type hint as a person reads it: ``int``, ``one of 'a', 'b'``, ``a tuple of int``..."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("None" if a is type(None) else describe(a) for a in args)
    if origin in (tuple, list):
        inner = [a for a in args if a is not Ellipsis]
        if len(args) == 2 and args[1] is Ellipsis or origin is list:
            return f"a sequence of {describe(inner[0]) if inner else 'values'}"
        return f"a sequence of ({', '.join(describe(a) for a in inner)})"
    if dataclasses.is_dataclass(hint):
        return f"a mapping of {hint.__name__} keys"
    return getattr(hint, "__name__", str(hint))


def _fail(value: Any, hint: Any) -> ValueError:
    return ValueError(f"expected {describe(hint)}, got {value!r}")


def coerce(value: Any, hint: Any, *, mode: Mode = "strict") -> Any:
    """``value`` converted to the type ``hint`` describes.

    Args:
        value: the value (a Python/JSON value, a YAML value, or with ``mode="text"`` a command-line string).
        hint: the field's annotation.
        mode: ``"strict"`` (Python and JSON: no conversions but int -> float and list -> tuple), ``"yaml"``
            (numbers may be strings, integral floats may be ints) or ``"text"`` (command-line strings).

    Raises:
        ValueError: the value does not fit; the message says what is allowed.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    text = mode == "text" and isinstance(value, str)
    if hint is Any:
        return yaml.safe_load(value) if text else value
    if hint is type(None):
        if value is None or (text and value.strip().lower() in ("none", "null", "~", "")):
            return None
        raise _fail(value, hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (text and value.strip().lower() in ("none", "null", "~"))):
            return None
        for alternative in args:
            if alternative is type(None):
                continue
            try:
                return coerce(value, alternative, mode=mode)
            except (TypeError, ValueError):
                continue
        raise _fail(value, hint)
    if origin is Literal:
        for choice in args:
            if value == choice and type(value) is type(choice):
                return choice
            if text and str(choice) == value.strip():
                return choice
        raise _fail(value, hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        for member in hint:
            if value == member.value or (isinstance(value, str) and value.strip() in (member.name, str(member.value))):
                return member
        raise _fail(value, hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if isinstance(value, Mapping):
            return build(hint, value, mode=mode)
        raise _fail(value, hint)
    if origin in (tuple, list):
        return _sequence(value, hint, origin, args, mode)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if mode != "strict" and isinstance(value, str):
            word = value.strip().lower()
            if word in ("1", "true", "yes", "on"):
                return True
            if word in ("0", "false", "no", "off"):
                return False
        raise _fail(value, hint)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if mode != "strict" and not isinstance(value, bool) and isinstance(value, str | float):
            try:
                number = float(value)
            except ValueError:
                raise _fail(value, hint) from None
            if number.is_integer():
                return int(number)
        raise _fail(value, hint)
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if mode != "strict" and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _fail(value, hint) from None
        raise _fail(value, hint)
    if hint is str:
        if isinstance(value, str):
            return value
        if mode != "strict" and value is None:
            return ""
        if mode != "strict" and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _fail(value, hint)
    if hint is Path:
        if isinstance(value, str | Path):
            return Path(value)
        raise _fail(value, hint)
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    if isinstance(hint, type):
        raise _fail(value, hint)
    return value  # an annotation this engine does not check (a type variable, a Protocol...)


def _sequence(value: Any, hint: Any, origin: type, args: tuple, mode: Mode) -> Any:
    if isinstance(value, str) and mode == "text":
        parsed = yaml.safe_load(value) if value.strip() else []
        items = parsed if isinstance(parsed, list) else [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise _fail(value, hint)
    if origin is list or (len(args) == 2 and args[1] is Ellipsis):
        item_hint = args[0] if args else Any
        hints = [item_hint] * len(items)
    elif args:
        if len(args) != len(items):
            raise ValueError(f"expected {len(args)} values ({describe(hint)}), got {value!r}")
        hints = list(args)
    else:
        hints = [Any] * len(items)
    converted = [coerce(v, h, mode=mode) for v, h in zip(items, hints, strict=True)]
    return tuple(converted) if origin is tuple else converted


def _check_key(cls: type, key: Any, where: str) -> None:
    """Refuse a key that is not a field of the dataclass ``cls``, naming the close one and those that exist."""
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    if key not in fields:
        close = difflib.get_close_matches(str(key), fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where}: unknown key {key!r}{hint}; {cls.__name__} has {', '.join(fields)}")


def build(cls: type, values: Mapping[str, Any], *, mode: Mode = "yaml", where: str = "") -> Any:
    """An instance of the dataclass ``cls`` from a (nested) mapping; fields not given keep their defaults.

    Raises:
        ConfigError: an unknown key (with the close one and the keys that exist), a value that does not fit
            its field, or a refusal by the dataclass's own checks (``__post_init__``).
    """
    where = where or cls.__name__
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a mapping of {cls.__name__} keys, got {type(values).__name__}")
    hints = field_types(cls)
    kwargs = {}
    for key, value in values.items():
        _check_key(cls, key, where)
        field_hint = hints.get(key, Any)
        try:
            if dataclasses.is_dataclass(field_hint) and isinstance(value, Mapping):
                kwargs[key] = build(field_hint, value, mode=mode, where=f"{where}.{key}")
            else:
                kwargs[key] = coerce(value, field_hint, mode=mode)
        except ConfigError:
            raise
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}.{key}={value!r}: {err}") from err
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["a=1", "net.channels=32"]`` -> ``{"a": "1", "net": {"channels": "32"}}`` (values stay texts).

    Raises:
        ConfigError: an item that is not ``KEY=VALUE``, or a key given both as a value and as a section.
    """
    tree: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r} is not KEY=VALUE (KEY may be dotted: net.channels=32)")
        *parents, leaf = key.split(".")
        node = tree
        for i, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {'.'.join(parents[:i + 1])} is a value, not a section")
        if isinstance(node.get(leaf), dict):
            raise ConfigError(f"override {item!r}: {key} is a section; set its keys ({key}.NAME=VALUE)")
        node[leaf] = value
    return tree


def merge_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, section by section (both nested mappings)."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_overrides(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_with_overrides(cls: type, values: Mapping[str, Any], overrides: Mapping[str, Any], *,
                         where: str = "") -> Any:
    """``build`` over a YAML mapping, then command-line texts laid over it (each typed by its own rules).

    The command-line texts are typed first (as ``mode="text"``), so that ``"1e-4"`` and ``"0.9,0.95"`` mean
    the same as in YAML; then the merged mapping builds the dataclass once, so nested dataclasses see every
    key together (their checks run on the final values).
    """
    typed = _type_texts(cls, overrides, where=where or cls.__name__)
    return build(cls, merge_overrides(values, typed), mode="yaml", where=where)


def _type_texts(cls: type, texts: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    hints = field_types(cls)
    out: dict[str, Any] = {}
    for key, value in texts.items():
        _check_key(cls, key, where)
        field_hint = hints.get(key, Any)
        if isinstance(value, Mapping):
            if not dataclasses.is_dataclass(field_hint):
                if field_hint is Any or typing.get_origin(field_hint) in (dict, Mapping):
                    out[key] = dict(value)
                    continue
                raise ConfigError(f"{where}.{key} is a value ({describe(field_hint)}), not a section")
            out[key] = _type_texts(field_hint, value, where=f"{where}.{key}")
            continue
        try:
            out[key] = coerce(value, field_hint, mode="text")
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}.{key}={value!r}: {err}") from err
    return out


def to_plain(value: Any) -> Any:
    """Dataclasses, enums, paths and tuples as plain YAML/JSON data (mappings, lists, scalars)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value
