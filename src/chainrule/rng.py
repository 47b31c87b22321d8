"""Random generators: the one place that turns a seed, a Generator or None into a Generator.

Randomness in chainrule is explicit: initializers, dropout, shuffling and splits take a
``numpy.random.Generator`` or an int seed, and never touch NumPy's global state.
"""

from __future__ import annotations

import numpy as np

from chainrule.errors import ConfigError

__all__ = ["RNG", "as_generator"]

#: What every ``rng=``/``seed=`` argument accepts.
RNG = np.random.Generator | int | None


def as_generator(rng: RNG, who: str = "", name: str = "rng") -> np.random.Generator:
    """Turn ``rng`` into a Generator: a Generator is used as is, an int seeds a new one.

    ``None`` gives a fresh generator seeded from the operating system's entropy. ``who`` and
    ``name`` only word the error (``"DataLoader: seed must be ..."``).

    Examples
    --------
    >>> from chainrule.rng import as_generator
    >>> float(as_generator(0).random()) == float(as_generator(0).random())
    True
    """
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    prefix = f"{who}: " if who else ""
    raise ConfigError(
        f"{prefix}{name} must be a numpy.random.Generator, a non-negative int seed or None, got "
        f"{type(rng).__name__} {rng!r}; for example {name}=np.random.default_rng(0) or {name}=0"
    )
