"""Host-side dispatch on the integer codes: a table per enum, and a lookup that raises.

Every implementation of the estimators (the NumPy backend, the exact oracle, the plan, the naive
test reference) picks its code for a :class:`~carms_cli.discrete.sampling.samplers.Construction`
or :class:`~carms_cli.discrete.estimators.Weighting` from a dict keyed by the enum's members,
never from an if/elif chain whose last ``else`` would silently run another member's formula. A
member missing from a table raises :class:`MissingBranch`; tests/test_exhaustive.py checks that
every table has every member.
"""

from collections.abc import Mapping
from enum import IntEnum
from typing import TypeVar

V = TypeVar("V")


class MissingBranch(NotImplementedError):
    """An implementation has no branch for an enum member."""


def branch(table: Mapping[IntEnum, V], member: IntEnum, where: str) -> V:
    """``table[member]``; :class:`MissingBranch` naming ``where`` if the member has no entry.

    Parameters
    ----------
    table
        The implementation's dispatch table, keyed by enum members.
    member
        The member to dispatch on (an IntEnum member; a plain int code works too).
    where
        The implementation, for the message (e.g. "the NumPy backend").

    Returns
    -------
    The table's entry for ``member``.

    Raises
    ------
    MissingBranch
        If ``member`` has no entry.
    """
    try:
        return table[member]
    except KeyError:
        name = f"{type(member).__name__}.{member.name}" if isinstance(member, IntEnum) else repr(member)
        raise MissingBranch(f"{where} has no branch for {name}") from None


def missing(table: Mapping[IntEnum, object], enum: type[IntEnum]) -> list[str]:
    """Names of the members of ``enum`` that ``table`` has no entry for (empty when exhaustive)."""
    return [member.name for member in enum if member not in table]
