"""core.records: a frozen dataclass built by field copy is the object its __init__ builds, or __init__ is used."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field

import pytest

from acme_ci_budget.client.result import CompletionResult
from acme_ci_budget.core.records import record
from acme_ci_budget.ledger.results import Reservation, Settlement


@dataclass(frozen=True)
class Plain:
    a: int
    b: str = "b"
    c: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must be >= 0")


@dataclass(frozen=True)
class WithInitVar:
    a: int
    scale: InitVar[int] = 1


def test_every_field_given_builds_what_init_builds() -> None:
    values = {"a": 1, "b": "x", "c": {"k": 1}}
    built = record(Plain, values)
    assert type(built) is Plain and built == Plain(**values) and built.__dict__ == Plain(**values).__dict__
    with pytest.raises(AttributeError):  # still frozen
        built.a = 2  # type: ignore[misc]


def test_a_missing_field_takes_its_default_and_an_unknown_one_raises_as_init_does() -> None:
    built = record(Plain, {"a": 1})
    assert built == Plain(1) and built.c == {} and built.c is not Plain(1).c
    with pytest.raises(TypeError):
        record(Plain, {"a": 1, "b": "x", "c": {}, "d": 0})


def test_a_class_with_post_init_or_an_init_var_always_goes_through_init() -> None:
    with pytest.raises(ValueError, match="a must be"):
        record(Checked, {"a": -1})
    with pytest.raises(TypeError):
        record(WithInitVar, {"a": 1, "scale": 2, "extra": 0})
    assert record(WithInitVar, {"a": 1, "scale": 2}) == WithInitVar(1, 2)


@pytest.mark.parametrize("cls", [Reservation, Settlement, CompletionResult])
def test_the_per_call_results_are_plain_so_they_are_built_by_copy(cls: type) -> None:
    from acme_ci_budget.core import records

    assert records._field_names(cls) == frozenset(cls.__dataclass_fields__)
