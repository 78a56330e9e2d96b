"""Frozen dataclass records built by field copy: the few results made on every model call, cheaply.

Owns one way to make an instance of a frozen dataclass without its generated ``__init__``, which
sets each field through ``object.__setattr__`` to get past the freeze (about 0.1 us a field; a
``Reservation`` has 26). An instance of a plain frozen dataclass (no ``__post_init__``, no
``InitVar``, no ``__slots__``) is its ``__dict__``, so copying a complete set of field values into a
fresh instance's ``__dict__`` builds the very object ``__init__`` would, at a fifth of the cost.
When the values are not exactly the class's fields (one missing, so a default applies, or one
unknown), or the class is not a plain one, it calls ``__init__``, which fills the defaults or raises
as usual. It must not validate or convert anything: the values are the caller's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_PLAIN: dict[type, frozenset[str] | None] = {}  # class -> its field names (None: not a plain one)


def _field_names(cls: type) -> frozenset[str] | None:
    if cls not in _PLAIN:
        params = getattr(cls, "__dataclass_params__", None)
        fields = dataclasses.fields(cls) if params is not None else ()  # instance fields: no ClassVar, no InitVar
        plain = (
            params is not None
            and params.frozen
            and not hasattr(cls, "__post_init__")
            and "__slots__" not in cls.__dict__
            and all(f.init for f in fields)
        )
        _PLAIN[cls] = frozenset(f.name for f in fields) if plain else None
    return _PLAIN[cls]


def record(cls: type[T], values: Mapping[str, Any]) -> T:
    """``cls(**values)``, built by copying ``values`` when they name every field of a plain frozen dataclass."""
    names = _field_names(cls)
    if names is None or values.keys() != names:
        return cls(**values)
    new = object.__new__(cls)
    new.__dict__.update(values)
    return new
