"""The package's own solver: explicit Runge-Kutta methods from their Butcher tableaus
(:class:`NativeBackend`), eager or with each step compiled."""

from ._backend import NativeBackend
from ._tableaus import TABLEAUS, ButcherTableau

__all__ = ["TABLEAUS", "ButcherTableau", "NativeBackend"]
