"""Building simulated E2 nodes from scenario settings (used by ``rrm sim serve`` and demos)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rrm.core.errors import InvalidInput
from rrm.core.objectives import get_objective
from rrm.sim.cellfree_env import CellFreeEnv
from rrm.sim.env import InterferenceEnv, Topology
from rrm.sim.fading import BlockFading, FadingProcess, PowerFading
from rrm.sim.node import NodeConfig, SimNode
from rrm.sim.scenarios.catalog import catalog_entry
from rrm.sim.scenarios.cellfree import CellFreeConfig
from rrm.sim.scenarios.d2d import D2DConfig, generate_d2d
from rrm.sim.scenarios.ergodic import ErgodicConfig, generate_ergodic_network


@dataclass(frozen=True)
class NodeSpec:
    """How to simulate a node.

    Attributes:
        scenario: 'd2d', 'ergodic' or 'cellfree'.
        catalog: d2d catalog entry giving K and the link distances (e.g. D18).
        num_links: K (overrides the catalog's; UEs for cellfree).
        num_aps: B for cellfree (None: Table I's 8).
        rho: Gauss-Markov fading correlation between slots (0 = block fading).
        csi_loss: share of cross links left unreported each slot.
        control_delay_slots: slots between decision and application.
        episode_slots: slots per topology (0: one topology per run).
        objective: utility reported in acks.
        f_min: ergodic minimum rate, bit/s/Hz.
        family: d2d only: draw the topology from a corpus family instead of the
            catalog (:data:`rrm.sim.scenarios.corpus.FAMILIES`, e.g. ``rayleigh-ic``
            or ``itu1411-d2d``: other path-loss regimes; K from ``num_links``, 18 if unset).
    """

    scenario: str = "d2d"
    catalog: str | None = "D18"
    num_links: int | None = None
    rho: float = 0.0
    csi_loss: float = 0.0
    control_delay_slots: int = 0
    episode_slots: int = 0
    objective: str = "sum"
    f_min: float = 0.6
    num_aps: int | None = None
    family: str | None = None


def _family_topology(spec: NodeSpec):  # noqa: ANN202 - returns a TopologyFactory
    from rrm.sim.scenarios.corpus import FAMILIES  # the corpus families (numpy only)

    if spec.family not in FAMILIES or spec.family == "catalog":
        names = ", ".join(n for n in FAMILIES if n != "catalog")
        raise InvalidInput(f"unknown node family {spec.family!r}; choose from {names}")
    draw_family, k = FAMILIES[spec.family], spec.num_links or 18

    def draw(rng: np.random.Generator) -> Topology:
        snap = draw_family(rng, 1, k)
        # one noise power per network: the families draw equal noise on every link
        return Topology(snap.gains[0], float(snap.noise_w[0, 0]), snap.pmax_w[0].copy(),
                        np.zeros(k))

    return draw


def _d2d_topology(spec: NodeSpec):  # noqa: ANN202 - returns a TopologyFactory
    if spec.family is not None:
        return _family_topology(spec)
    cfg = catalog_entry(spec.catalog).config if spec.catalog else D2DConfig()
    if spec.num_links is not None:
        cfg = D2DConfig.from_overrides(**{**cfg.__dict__, "num_links": spec.num_links})

    def draw(rng: np.random.Generator) -> Topology:
        batch = generate_d2d(cfg, 1, rng)
        k = cfg.num_links
        return Topology(batch.large_scale[0], cfg.noise_w, np.full(k, cfg.pmax_w), np.zeros(k))

    return draw


def _ergodic_topology(spec: NodeSpec):  # noqa: ANN202
    overrides = {"f_min": spec.f_min}
    if spec.num_links is not None:
        overrides["num_pairs"] = spec.num_links
    cfg = ErgodicConfig.from_overrides(**overrides)

    def draw(rng: np.random.Generator) -> Topology:
        net = generate_ergodic_network(cfg, rng)
        n = cfg.num_pairs
        return Topology(net.large_scale, cfg.noise_w, np.full(n, cfg.pmax_w),
                        np.full(n, cfg.f_min))

    return draw


def node_fading(rho: float) -> PowerFading:
    """The node's fading: block fading (``rho = 0``) as Exp(1) power draws, else Gauss-Markov.

    Block fading needs only ``|h|^2``: :class:`BlockFading` draws it directly at
    about a quarter of the former draws' CPU (issue #18 item 5; its seeded stream
    differs from ``FadingProcess(0.0)``'s, the same Exp(1) law).
    """
    return BlockFading() if rho == 0.0 else FadingProcess(rho)


def build_node(spec: NodeSpec, node_id: str, seed: int, slot_period_s: float) -> SimNode[Any]:
    """A seeded SimNode for ``spec``."""
    if spec.scenario == "cellfree":
        return _cellfree_node(spec, node_id, seed, slot_period_s)
    if spec.scenario == "d2d":
        factory = _d2d_topology(spec)
    elif spec.scenario == "ergodic":
        factory = _ergodic_topology(spec)
    else:
        raise InvalidInput(f"the simulator serves d2d, ergodic and cellfree nodes, "
                           f"not {spec.scenario!r}")
    env = InterferenceEnv(factory, node_fading(spec.rho), get_objective(spec.objective),
                          spec.csi_loss, spec.episode_slots, ergodic=spec.scenario == "ergodic")
    cfg = NodeConfig(node_id, spec.scenario, slot_period_s, spec.control_delay_slots)
    return SimNode(env, cfg, seed=seed)


def _cellfree_node(spec: NodeSpec, node_id: str, seed: int, slot_period_s: float
                   ) -> SimNode[Any]:
    overrides: dict[str, int] = {}
    if spec.num_links is not None:
        overrides["num_ues"] = spec.num_links
    if spec.num_aps is not None:
        overrides["num_aps"] = spec.num_aps
    env = CellFreeEnv(CellFreeConfig.from_overrides(**overrides), get_objective(spec.objective),
                      spec.rho, spec.episode_slots)
    cfg = NodeConfig(node_id, "cellfree", slot_period_s, spec.control_delay_slots)
    return SimNode(env, cfg, seed=seed)
