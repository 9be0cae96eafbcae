"""Scenario generators by name: ``d2d``, ``cellfree``, ``ergodic``.

A small registry maps each scenario name to a :class:`Scenario`: the arrays
its data sets hold and a function that turns ``(n, rng, overrides)`` into
chunks of named arrays plus the resolved parameters (chunks bound the
memory; the writer streams them to disk). :func:`generate_arrays` is the
one entry point the data-set writer (:mod:`rrm.sim.dataset`) and the CLI use.
Scenario modules are imported lazily, on first use, so a scenario under
construction does not break the others, and importing this package stays
cheap. Another scenario plugs in with :func:`register_scenario`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput, UnknownName

Arrays = dict[str, NDArray[Any]]
ArraysAndParams = tuple[Arrays, dict[str, Any]]
CELLFREE_CHUNK = 2_000  # cell-free snapshots per chunk (B*K*M complex values each)


@dataclass(frozen=True)
class Scenario:
    """A registered scenario.

    Attributes:
        name: the name used by the CLI and stored in data-set files.
        arrays: names of the arrays every data set of this scenario holds,
            each with the sample axis first.
        chunks: ``(n, rng, overrides)`` -> consecutive ``(arrays, params)``
            chunks that together hold ``n`` samples; ``params`` is
            JSON-serialisable and includes ``noise_w`` (and ``pmax_w``) in watts.
    """

    name: str
    arrays: tuple[str, ...]
    chunks: Callable[[int, np.random.Generator, dict[str, Any]], Iterator[ArraysAndParams]]


def _config_params(cfg: Any, *extra: str) -> dict[str, Any]:
    """The config's fields plus the named derived properties (watts, bit/s)."""
    params = dataclasses.asdict(cfg)
    for name in extra:
        value = getattr(cfg, name, None)
        if value is not None:
            params[name] = np.asarray(value).tolist()
    return params


def _chunked(n: int, step: int, draw: Callable[[int], ArraysAndParams]
             ) -> Iterator[ArraysAndParams]:
    for lo in range(0, n, step):
        yield draw(min(step, n - lo))


def _d2d(n: int, rng: np.random.Generator, overrides: dict[str, Any]
         ) -> Iterator[ArraysAndParams]:
    from rrm.sim.scenarios.d2d import D2DConfig, chunk_rows, generate_d2d

    cfg = D2DConfig.from_overrides(**overrides)  # eager: bad keys fail before any writing
    params = _config_params(cfg, "noise_w", "pmax_w")

    def draw(m: int) -> ArraysAndParams:
        b = generate_d2d(cfg, m, rng, dtype=np.float32)
        return {"gains": b.gains, "tx_xy": b.tx_xy, "rx_xy": b.rx_xy}, params

    return _chunked(n, chunk_rows(cfg), draw)  # generate_d2d's chunks: the same bytes


def _ergodic(n: int, rng: np.random.Generator, overrides: dict[str, Any]
             ) -> Iterator[ArraysAndParams]:
    from rrm.sim.scenarios.ergodic import ErgodicConfig, chunk_rows, generate_ergodic

    cfg = ErgodicConfig.from_overrides(**overrides)
    params = _config_params(cfg, "noise_w", "rho")

    def draw(m: int) -> ArraysAndParams:
        b = generate_ergodic(cfg, m, rng)
        return {"large_scale": b.large_scale.astype(np.float32), "tx_xy": b.tx_xy,
                "rx_xy": b.rx_xy}, params

    return _chunked(n, chunk_rows(cfg), draw)


def _cellfree(n: int, rng: np.random.Generator, overrides: dict[str, Any]
              ) -> Iterator[ArraysAndParams]:
    module = importlib.import_module("rrm.sim.scenarios.cellfree")  # written alongside; lazy
    cfg = module.CellFreeConfig.from_overrides(**overrides)
    params = _config_params(cfg, "noise_w", "pmax_w", "fronthaul_bps")

    def draw(m: int) -> ArraysAndParams:
        b = module.generate_cellfree(cfg, m, rng)
        return {"h": b.h.astype(np.complex64), "ap_xy": b.ap_xy, "ue_xy": b.ue_xy}, params

    return _chunked(n, CELLFREE_CHUNK, draw)


_REGISTRY: dict[str, Scenario] = {}


def register_scenario(scenario: Scenario) -> None:
    """Add (or replace) a scenario in the registry."""
    _REGISTRY[scenario.name] = scenario


register_scenario(Scenario("d2d", ("gains", "tx_xy", "rx_xy"), _d2d))
register_scenario(Scenario("cellfree", ("h", "ap_xy", "ue_xy"), _cellfree))
register_scenario(Scenario("ergodic", ("large_scale", "tx_xy", "rx_xy"), _ergodic))
SCENARIOS = tuple(_REGISTRY)  # the built-in names, in CLI order


def get_scenario(name: str) -> Scenario:
    """The registered scenario ``name``; UnknownName lists the valid names."""
    if name not in _REGISTRY:
        raise UnknownName(f"unknown scenario {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def generate_arrays(scenario: str, n: int, rng: np.random.Generator,
                    **overrides: Any) -> ArraysAndParams:
    """``n`` snapshots (networks for ``ergodic``) of ``scenario`` as named arrays + params.

    Args:
        scenario: a registered name (:data:`SCENARIOS`).
        n: samples to draw, >= 1.
        rng: the only source of randomness.
        **overrides: config fields of the scenario (e.g. ``num_links=20``);
            unknown keys raise ConfigError.
    """
    if n < 1:
        raise InvalidInput(f"number of samples must be at least 1, got {n}")
    parts = list(get_scenario(scenario).chunks(n, rng, overrides))
    params = parts[0][1]
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}, params
