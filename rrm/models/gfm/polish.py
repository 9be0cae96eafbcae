"""Local-search polish of a power answer by the objective's own utility (our extension).

Greedy best-improvement over single-link moves: from powers ``p``, every move
"link ``j`` to ``level * Pmax_j``" (``j`` in ``1..K``, ``level`` in
:attr:`LocalSearch.levels`) is scored at once, the best is applied if it raises
the utility, and the search repeats until no move does or :attr:`max_moves`
moves were made. It never lowers the utility it can see (the unpolished answer is
kept unless the polished one is strictly better) and stops at a local optimum of
the move set when it is not capped.

The ``L x K`` candidates of a snapshot share everything but one power, so their
rates come from one ``[L, K, K]`` computation (rank-1 updates of the
interference vector), not from ``L x K`` rate evaluations. Notation:

==========  ==================================================================
``G``       gains ``[n, K, K]``, linear, ``G[k, j]``: receiver k from transmitter j
``s_k``     signal ``G_kk p_k``, W
``I_k``     interference + noise ``sum_{j != k} G_kj p_j + sigma_k``, W
``q_lj``    the power link ``j`` moves to, ``levels[l] * Pmax_j``, W
``D_lj``    the change ``q_lj - p_j``, W
==========  ==================================================================

After move ``(l, j)``: ``I'_k = I_k + G_kj D_lj`` for ``k != j`` (``I'_j = I_j``),
``s'_j = G_jj q_lj`` (``s'_k = s_k`` otherwise), rates ``log2(1 + s' / I')``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective
from rrm.core.types import InterferenceState

if TYPE_CHECKING:
    from rrm.models.policy import Policy

# shares of Pmax a link may move to: off, two low steps, full power; the two steps lifted
# the D2D families by 0.01-0.04 of one WMMSE run over on/off alone (docs/gfm.md,
# "Local-search polish")
LEVELS = (0.0, 0.1, 0.3, 1.0)
# moves per snapshot at most: 4 gave nearly all of the gain on the interference channels, the
# D2D families gained up to ~16 (docs/gfm.md); cost: bench/results/polish_latency.md
MAX_MOVES = 16
_RELATIVE_TOL = 1e-9  # a move must raise the utility by more than this share of |U| (roundoff)


@dataclass(frozen=True)
class LocalSearch:
    """Greedy single-link local search (module docstring).

    Attributes:
        levels: shares of ``Pmax`` in ``[0, 1]`` each link may be moved to.
        max_moves: moves per snapshot at most (0: the answer as it is).
    """

    levels: tuple[float, ...] = LEVELS
    max_moves: int = MAX_MOVES

    def __post_init__(self) -> None:
        if not self.levels or not all(0.0 <= x <= 1.0 for x in self.levels):
            raise InvalidInput(f"polish levels must be shares of Pmax in [0, 1], got {self.levels}")
        if self.max_moves < 0:
            raise InvalidInput(f"polish max_moves must be >= 0, got {self.max_moves}")

    def polish(self, gains: np.ndarray, noise_w: np.ndarray, pmax_w: np.ndarray,
               power_w: np.ndarray, objective: Objective) -> np.ndarray:
        """The polished powers ``[n, K]`` W.

        Args:
            gains: ``[n, K, K]`` linear gains as the policy sees them.
            noise_w, pmax_w: ``[n, K]`` W.
            power_w: ``[n, K]`` W, the answer to polish, within ``[0, pmax_w]``.
            objective: the utility to raise (per-snapshot ``wsr`` weights ``[n, K]`` allowed).
        """
        start = np.asarray(power_w, dtype=np.float64)
        power = start.copy()
        utility = _utility(gains, power, noise_w, objective)  # (n,)
        active = np.arange(len(power))  # the snapshots still improving
        for _ in range(self.max_moves):
            everyone = len(active) == len(power)  # then views, no copies (one snapshot: always)
            rows = slice(None) if everyone else active
            moved, value, new_power = best_moves(
                gains[rows], noise_w[rows], pmax_w[rows], power[rows],
                objective if everyone else _rows(objective, active), self.levels, utility[rows])
            if not moved.any():
                break
            active = active[moved]
            power[active], utility[active] = new_power[moved], value[moved]
        return keep_better(start, power, gains, noise_w, objective)


def best_moves(gains: np.ndarray, noise_w: np.ndarray, pmax_w: np.ndarray, power_w: np.ndarray,
               objective: Objective, levels: tuple[float, ...],
               utility: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One greedy step per snapshot: the best single-link move, made where it helps.

    Args:
        gains: ``[n, K, K]``; noise_w, pmax_w, power_w: ``[n, K]`` W.
        objective: the utility; levels: shares of ``Pmax``.
        utility: ``[n]``, the utility of ``power_w``.

    Returns:
        ``moved [n]`` bool (the best move raises the utility by more than the
        tolerance), the utility ``[n]`` and powers ``[n, K]`` W after the step
        (unchanged where not moved). On a tie the first move in (level, link) order wins.
    """
    n, k = power_w.shape
    values = move_utilities(gains, noise_w, pmax_w, power_w, objective, levels)  # (L*K, n)
    values[np.isnan(values)] = -np.inf  # (np.nan_to_num costs more than the moves at K = 20)
    best = np.argmax(values, axis=0)  # (n,)
    value = values[best, np.arange(n)]
    moved = value > utility + _RELATIVE_TOL * np.maximum(np.abs(utility), 1.0)
    level, link = np.divmod(best, k)
    new_power = power_w.copy()
    rows = np.flatnonzero(moved)
    new_power[rows, link[rows]] = np.asarray(levels)[level[rows]] * pmax_w[rows, link[rows]]
    return moved, np.where(moved, value, utility), new_power


def move_utilities(gains: np.ndarray, noise_w: np.ndarray, pmax_w: np.ndarray,
                   power_w: np.ndarray, objective: Objective,
                   levels: tuple[float, ...]) -> np.ndarray:
    """Utility ``[L * K, n]`` of every single-link move; row ``l * K + j``: link ``j`` to
    ``levels[l] * Pmax_j``, the other powers as in ``power_w [n, K]`` W (module docstring)."""
    rates = move_rates(gains, noise_w, pmax_w, power_w, levels)  # (n, L, K, K)
    n, m, k = rates.shape[0], rates.shape[1] * rates.shape[2], rates.shape[3]
    moved = rates.reshape(n, m, k).transpose(1, 0, 2)  # (L*K, n, K): weights [n, K] broadcast
    return np.asarray(objective.utility(moved), dtype=np.float64)


def move_rates(gains: np.ndarray, noise_w: np.ndarray, pmax_w: np.ndarray,
               power_w: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """Rates ``[n, L, J, K]`` bit/s/Hz of link ``k`` after moving link ``j`` to
    ``levels[l] * Pmax_j``: rank-1 updates of the signal and interference vectors,
    computed in place (one ``[n, L, K, K]`` array: this is the polish's hot loop)."""
    k = gains.shape[-1]
    direct = np.diagonal(gains, axis1=-2, axis2=-1)  # (n, K)
    signal = direct * power_w  # (n, K)
    interference = np.einsum("nkj,nj->nk", gains, power_w) - signal + noise_w  # (n, K)
    target = np.asarray(levels)[None, :, None] * pmax_w[:, None, :]  # (n, L, J)
    change = target - power_w[:, None, :]  # (n, L, J)
    # G_kj D_lj (the diagonal is overwritten below), + I_k: I'_k after the move
    ratio = change[..., None] * gains.swapaxes(-1, -2)[:, None]  # (n, L, J, K)
    ratio += interference[:, None, None, :]
    np.maximum(ratio, noise_w[:, None, None, :], out=ratio)  # roundoff of a link switched off
    np.divide(signal[:, None, None, :], ratio, out=ratio)  # SINR'_k = s_k / I'_k, k != j
    links = np.arange(k)
    ratio[:, :, links, links] = direct[:, None, :] * target / interference[:, None, :]  # k = j
    ratio += 1.0  # log2(1 + x) as physics.rates computes it (and ~2x faster than log1p here)
    return np.log2(ratio, out=ratio)


def keep_better(start: np.ndarray, polished: np.ndarray, gains: np.ndarray,
                noise_w: np.ndarray, objective: Objective) -> np.ndarray:
    """``polished [n, K]`` where its utility (recomputed from scratch) is strictly above
    ``start``'s, else ``start``: the polish never lowers the utility it can see."""
    better = _utility(gains, polished, noise_w, objective) > _utility(gains, start, noise_w,
                                                                      objective)
    return np.where(better[:, None], polished, start)


def polish_state(search: LocalSearch, state: InterferenceState, objective: Objective,
                 power_w: np.ndarray) -> np.ndarray:
    """``power_w [..., K]`` W for ``state`` (one snapshot ``[K, K]`` or a batch), polished
    under the reported CSI (unreported cross links count as zero, as in
    :func:`rrm.models.gfm.adapt.best_by_utility`)."""
    gains = np.asarray(state.gains, dtype=np.float64)
    single = gains.ndim == 2
    g = gains[None] if single else gains  # (n, K, K)
    n, k = g.shape[0], g.shape[-1]
    if state.csi_mask is not None:
        g = physics.apply_csi_mask(g, np.broadcast_to(np.asarray(state.csi_mask, bool), g.shape))
    power = np.asarray(power_w, dtype=np.float64).reshape(n, k)
    out = search.polish(g, state.noise_per_link.reshape(n, k), state.pmax_per_link.reshape(n, k),
                        power, objective)
    return out[0] if single else out


def _utility(gains: np.ndarray, power_w: np.ndarray, noise_w: np.ndarray,
             objective: Objective) -> np.ndarray:
    """Utility ``[n]`` of ``power_w [n, K]`` W."""
    return np.asarray(objective.utility(physics.rates(gains, power_w, noise_w)), dtype=np.float64)


def _rows(objective: Objective, rows: np.ndarray) -> Objective:
    """``objective`` for the snapshots ``rows`` of a batch (per-snapshot ``wsr`` weights)."""
    weights = objective.weights
    if weights is None or np.ndim(weights) < 2:
        return objective
    return objective.with_weights(np.asarray(weights)[rows])


def gfm_polish(checkpoint: str | Path | None = None, threads: int = 1, *,
               name: str = "gfm-polish") -> Policy:
    """``gfm`` (SNR ceiling on) with its answer polished by :class:`LocalSearch`: never below
    ``gfm`` under the reported CSI (the ``gfm-polish`` policy, our extension)."""
    from rrm.models.gfm.policy import GFMPolicy  # the policy imports this module

    return GFMPolicy(checkpoint, threads, name=name, polish=True)
