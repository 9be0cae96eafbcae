"""Scenario generators by name: ``d2d``, ``cellfree``, ``ergodic``.

:func:`generate_arrays` is the one entry point the data-set writer and the
CLI use: it returns named arrays for ``n`` snapshots and the resolved
scenario parameters.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import numpy as np

from sim.errors import UnknownName

SCENARIOS = ("d2d", "cellfree", "ergodic")


def _d2d(n: int, rng: np.random.Generator, overrides: dict[str, Any]
         ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from sim.scenarios.d2d import D2DConfig, generate_d2d

    cfg = D2DConfig.from_overrides(**overrides)
    b = generate_d2d(cfg, n, rng, dtype=np.float32)
    params = {**dataclasses.asdict(cfg), "noise_w": cfg.noise_w, "pmax_w": cfg.pmax_w}
    return {"gains": b.gains, "tx_xy": b.tx_xy, "rx_xy": b.rx_xy}, params


def _ergodic(n: int, rng: np.random.Generator, overrides: dict[str, Any]
             ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from sim.scenarios.ergodic import ErgodicConfig, generate_ergodic_network

    cfg = ErgodicConfig.from_overrides(**overrides)
    nets = [generate_ergodic_network(cfg, rng) for _ in range(n)]  # one network = 400 pairs
    arrays: dict[str, np.ndarray] = {
              "large_scale": np.stack([x.large_scale for x in nets]).astype(np.float32),
              "tx_xy": np.stack([x.tx_xy for x in nets]),
              "rx_xy": np.stack([x.rx_xy for x in nets])}
    return arrays, {**dataclasses.asdict(cfg), "noise_w": cfg.noise_w}


def _cellfree(n: int, rng: np.random.Generator, overrides: dict[str, Any]
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    module = importlib.import_module("sim.scenarios.cellfree")
    cfg = module.CellFreeConfig.from_overrides(**overrides)
    b = module.generate_cellfree(cfg, n, rng)
    arrays = {"h": b.h.astype(np.complex64), "ap_xy": b.ap_xy, "ue_xy": b.ue_xy}
    return arrays, dataclasses.asdict(cfg)


_GENERATORS = {"d2d": _d2d, "ergodic": _ergodic, "cellfree": _cellfree}


def generate_arrays(scenario: str, n: int, rng: np.random.Generator,
                    **overrides: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``n`` snapshots (networks for ``ergodic``) of ``scenario`` as named arrays + params."""
    if scenario not in _GENERATORS:
        raise UnknownName(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    return _GENERATORS[scenario](n, rng, overrides)
