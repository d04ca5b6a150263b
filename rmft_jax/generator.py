"""Which counter-based generator draws a run's random numbers: a recorded setting of every run.

Every key of the package comes from ``jax.random.key(seed)`` (training seeds, evaluation
seeds, the bootstrap, the experiments) and everything random is derived from those keys
by ``split`` / ``fold_in``, so the generator is chosen in one place: JAX's default
typed-key implementation (``jax_default_prng_impl``) and, for threefry, its counter layout
(``jax_threefry_partitionable``). :func:`use` sets both for the process, once, before any
work (``rmft train | evaluate | figure | bench --rng NAME``); :func:`current` says which is
active, and every results file (:func:`rmft_jax.results.versions`) and run config
(:class:`rmft_jax.config.TrainConfig`, ``rng``) records it. A saved run is refused under
another generator (:func:`check_matches`): the same seed gives other numbers.

The generators offered (measured with the others by ``rmft bench``,
:mod:`rmft_jax.bench.generators`):

* ``threefry2x32`` — JAX's default, with the partitionable counter layout (the default
  since JAX 0.5); the package's default: every committed result was drawn with it.
* ``threefry2x32-nonpartitionable`` — the same cipher with the older counter layout
  (``jax_threefry_partitionable = False``): other numbers for a seed, fewer operations per
  draw on CPU. When one draw from one key is itself split across devices, every device
  generates the whole array and keeps its part (the sharded column of ``rmft bench``'s
  generator table measures it: the per-device program's bits array and bytes are those of
  the one-device program, :mod:`rmft_jax.bench.generator_sharding`); ours are per run, from
  keys split per run, which each device draws for its own runs, and a batch sharded over
  devices draws the same numbers (``tests/test_generator.py``).

Measured but not offered (:data:`NOT_OFFERED`, with the reason): ``philox2x32`` and
``philox4x32`` are correct under ``vmap`` but do not compile when a batch is sharded over
devices (JAX 0.10.2 on CPU: "Unable to convert MHLO to StableHLO" at their ``mulhi``), and
``rbg`` / ``unsafe_rbg`` (XLA's ``RngBitGenerator``) draw other numbers under ``vmap`` than
the per-key loop. ``threefry4x32`` is neither offered nor measured: XLA ran out of memory
compiling a baseline rollout (:func:`rmft_jax.rollout.run`, UCB, ``T = 100``) drawn with
it, over 6 GB and minutes, where the others compile in seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import jax

from rmft_jax import checks


@dataclasses.dataclass(frozen=True)
class Generator:
    """A typed-key implementation and, for threefry, its counter layout."""

    impl: str
    partitionable: bool = True


GENERATORS = {
    "threefry2x32": Generator("threefry2x32"),
    "threefry2x32-nonpartitionable": Generator("threefry2x32", partitionable=False),
}
DEFAULT = "threefry2x32"
_SHARDING = "does not compile when a batch is sharded over devices (JAX 0.10.2, CPU)"
_VMAP = "draws other numbers under vmap than the per-key loop"
# Measured by the bench, not selectable: name -> (generator, why not).
NOT_OFFERED = {
    "philox2x32": (Generator("philox2x32"), _SHARDING),
    "philox4x32": (Generator("philox4x32"), _SHARDING),
    "rbg": (Generator("rbg"), _VMAP),
    "unsafe_rbg": (Generator("unsafe_rbg"), _VMAP),
}


def check(name, field: str = "rng") -> str:
    """``name`` if it is a generator the package offers, else a one-line ``ValueError`` naming ``field``."""
    if not isinstance(name, str) or name not in GENERATORS:
        checks.fail(field, "one of " + ", ".join(GENERATORS), name)
    return name


def _apply(gen: Generator) -> None:
    jax.config.update("jax_default_prng_impl", gen.impl)
    jax.config.update("jax_threefry_partitionable", gen.partitionable)


def use(name: str) -> None:
    """Make ``name`` the process's generator: every ``jax.random.key(seed)`` from now on uses it.

    Call it once, before any work: JAX does not key its compilation cache on the default
    implementation, so a jitted function that makes keys from integers (a seed sweep) and
    was traced under one generator would keep drawing with it.
    """
    _apply(GENERATORS[check(name)])


def current() -> str:
    """The name of the active generator (JAX's settings spelt as above; an unnamed combination as JAX's words)."""
    impl, part = jax.config.jax_default_prng_impl, bool(jax.config.jax_threefry_partitionable)
    for name, gen in {**GENERATORS, **{n: g for n, (g, _) in NOT_OFFERED.items()}}.items():
        if gen == Generator(impl, part):
            return name
    return f"{impl} (jax_threefry_partitionable={part})"


@contextlib.contextmanager
def using(name: str, *, measured_only: bool = False) -> Iterator[None]:
    """Draw with ``name`` inside the block, then restore the previous settings (benchmarks, tests).

    Only for code that receives its keys as arguments (the key's type is part of the jit
    cache key) or makes them outside ``jit``. ``measured_only`` also admits the generators
    that are measured but not offered (:data:`NOT_OFFERED`).
    """
    gen = NOT_OFFERED[name][0] if measured_only and name in NOT_OFFERED else GENERATORS[check(name)]
    before = Generator(jax.config.jax_default_prng_impl, bool(jax.config.jax_threefry_partitionable))
    _apply(gen)
    try:
        yield
    finally:
        _apply(before)


def check_matches(saved: str, what: str) -> None:
    """Refuse to go on with ``what`` (a config, a saved run) of generator ``saved`` while another is active."""
    active = current()
    if saved != active:
        raise ValueError(
            f"rng: {what} uses the generator {saved!r} but the active one is {active!r}; "
            f"pass --rng {saved} (or call rmft_jax.generator.use({saved!r}) first)"
        )


__all__ = ["GENERATORS", "DEFAULT", "NOT_OFFERED", "Generator", "check", "use", "current", "using", "check_matches"]
