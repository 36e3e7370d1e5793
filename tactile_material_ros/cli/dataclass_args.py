"""Command-line options from frozen config dataclasses: one source of defaults and help text.

Each field becomes ``--field-name`` with the field's ``metadata["help"]``; booleans get
``--x/--no-x``; tuples of strings are repeatable or comma-separated; a pair of floats takes two
values. :func:`build` turns the parsed namespace back into the (validated) dataclass.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser, cls: type, defaults: dict[str, Any] | None = None,
                  skip: tuple[str, ...] = ()) -> None:
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = (defaults or {}).get(f.name, f.default if f.default is not dataclasses.MISSING else None)
        option = "--" + f.name.replace("_", "-")
        text = f.metadata.get("help", "")
        kind = hints[f.name]
        if kind is bool:
            group.add_argument(option, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif kind == tuple[str, ...]:
            group.add_argument(option, dest=f.name, action="append", default=None, metavar="VALUE",
                               help=f"{text} (repeatable or comma-separated)")
        elif kind == tuple[float, float]:
            group.add_argument(option, dest=f.name, type=float, nargs=2, default=default, metavar=("LOW", "HIGH"),
                               help=f"{text} (default: {default})")
        else:
            group.add_argument(option, dest=f.name, type=kind, default=default, help=f"{text} (default: {default})")


def build(cls: type[T], args: argparse.Namespace, **override: Any) -> T:
    """The dataclass from parsed options (values in ``override`` win); its __post_init__ validates."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in override:
            values[f.name] = override[f.name]
            continue
        if not hasattr(args, f.name):
            continue
        value = getattr(args, f.name)
        if hints[f.name] == tuple[str, ...]:
            value = tuple(v.strip() for item in (value or ()) for v in item.split(",") if v.strip())
        elif isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)
