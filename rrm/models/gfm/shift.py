"""Distribution shift: how far a snapshot lies from a model's training snapshots.

A checkpoint carries :class:`ShiftStats` of the snapshots it was trained on
(``metadata.json``, key ``shift_stats``); the policy scores every snapshot
it decides with :meth:`ShiftStats.score`, and the ``distribution_shift``
guard (:mod:`rrm.xapp.guards`) falls back to WMMSE above a threshold.

The score is a Mahalanobis distance over a small per-snapshot descriptor of
the features the backbone sees (:mod:`rrm.models.gfm.features`: INRs at full
power in dB, clamped as the features are):

====  ==================================================================
i     descriptor ``d_i`` of one snapshot (K links)
====  ==================================================================
0     mean over links of the direct INR ``10 log10(G_kk Pmax_k / sigma_k^2)``
1     its standard deviation over links
2     mean over reported cross links of ``10 log10(G_kj Pmax_j / sigma_k^2)``
3     its standard deviation
4     mean over links of the full-power SINR ``10 log10(G_kk Pmax_k /
      (sum_{j != k} G_kj Pmax_j + sigma_k^2))`` (reported cross links only)
5     its standard deviation
====  ==================================================================

``score = sqrt((d - mu)^T Sigma^{-1} (d - mu))`` with ``mu`` and ``Sigma``
the descriptors' mean and covariance over the training snapshots. Why this
and not a per-feature range check: the marginals of single features overlap
between regimes that the model treats very differently (a Rayleigh
interference channel at 40 dB SNR has d2d-like direct and cross INRs), while
the joint statistics (spread of INRs, signal-to-interference balance)
separate them. Each descriptor is an average over K or K^2 values, so it is
nearly Gaussian and the distance is about chi-distributed with 6 degrees of
freedom on training data (its quantiles are stored too). Cost: O(K^2) numpy
per snapshot, the same as building the features.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from rrm.core.errors import CheckpointError
from rrm.models.gfm.features import DB_MAX, DB_MIN

DESCRIPTORS = ("direct_inr_db_mean", "direct_inr_db_std", "cross_inr_db_mean",
               "cross_inr_db_std", "sinr_full_db_mean", "sinr_full_db_std")
QUANTILES = (0.0, 0.001, 0.01, 0.5, 0.99, 0.999, 1.0)
STATS_VERSION = 1


def _db(x: np.ndarray) -> np.ndarray:
    return np.clip(10.0 * np.log10(np.maximum(x, 1e-30)), DB_MIN, DB_MAX)


def _masked_moments(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over the last axis of ``x [n, m]`` where ``mask``; NaN where empty."""
    count = mask.sum(-1)
    safe = np.maximum(count, 1)
    mean = np.where(mask, x, 0.0).sum(-1) / safe
    var = np.where(mask, (x - mean[:, None]) ** 2, 0.0).sum(-1) / safe
    empty = count == 0
    return np.where(empty, np.nan, mean), np.where(empty, np.nan, np.sqrt(var))


def descriptors(gains: np.ndarray, noise_w: np.ndarray | float, pmax_w: np.ndarray | float,
                csi_mask: np.ndarray | None = None) -> np.ndarray:
    """Per-snapshot descriptors (module docstring).

    Args:
        gains: ``[n, K, K]`` linear power gains, receiver k from transmitter j.
        noise_w, pmax_w: scalar, ``[K]`` or ``[n, K]`` watts.
        csi_mask: ``[n, K, K]`` bool, False where a cross link was not reported.

    Returns:
        ``[n, 6]`` float64; NaN where a snapshot has no reported cross link.
    """
    g = np.asarray(gains, dtype=np.float64)
    n, k, _ = g.shape
    noise = np.broadcast_to(np.asarray(noise_w, np.float64), (n, k))
    pmax = np.broadcast_to(np.asarray(pmax_w, np.float64), (n, k))
    received = g * pmax[:, None, :]  # (n, K, K): G_kj Pmax_j, watts
    return descriptors_of(received, received / noise[:, :, None], noise, csi_mask)


def descriptors_of(received: np.ndarray, inr: np.ndarray, noise_w: np.ndarray,
                   csi_mask: np.ndarray | None = None) -> np.ndarray:
    """:func:`descriptors` from the received powers and INRs at full power it forms first
    (the gfm features start from the same INRs: one product serves both).

    Args:
        received: ``[n, K, K]`` float64, ``G_kj Pmax_j`` W.
        inr: ``[n, K, K]`` float64, ``received / sigma_k^2``.
        noise_w: ``[n, K]`` float64 W.
        csi_mask: ``[n, K, K]`` bool or None (every cross link reported).
    """
    n, k, _ = received.shape
    eye = np.eye(k, dtype=bool)
    known = ~eye[None] if csi_mask is None else np.asarray(csi_mask, bool) & ~eye[None]
    known = np.broadcast_to(known, (n, k, k))
    direct = np.diagonal(received, axis1=1, axis2=2)  # (n, K)
    direct_db = _db(direct / noise_w)
    cross_db = _db(inr).reshape(n, k * k)
    interference = np.where(known, received, 0.0).sum(-1)  # (n, K)
    sinr_db = _db(direct / (interference + noise_w))
    all_links = np.ones((n, k), bool)
    columns = [*_masked_moments(direct_db, all_links),
               *_masked_moments(cross_db, known.reshape(n, k * k)),
               *_masked_moments(sinr_db, all_links)]
    return np.stack(columns, axis=-1)


@dataclass(frozen=True)
class ShiftStats:
    """Statistics of a model's training snapshots (module docstring).

    Attributes:
        mean: ``[6]`` descriptor mean; covariance: ``[6, 6]``.
        k_range: smallest and largest K seen in training.
        n: training snapshots the statistics come from.
        source: how they were made (data spec or command).
        feature_quantiles: per descriptor, its values at :data:`QUANTILES`.
        score_quantiles: the training snapshots' own scores at :data:`QUANTILES`.
    """

    mean: np.ndarray
    covariance: np.ndarray
    k_range: tuple[int, int]
    n: int
    source: str
    feature_quantiles: dict[str, list[float]]
    score_quantiles: list[float]

    @cached_property
    def precision(self) -> np.ndarray:
        """``Sigma^{-1}`` (pseudo-inverse: a constant descriptor must not blow up); computed
        once per statistics object, not per decision."""
        return np.linalg.pinv(self.covariance, hermitian=True)

    def score_descriptors(self, d: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of descriptors ``[n, 6]`` -> ``[n]``; NaN -> training mean."""
        diff = np.where(np.isnan(d), 0.0, d - self.mean)  # a missing descriptor: no evidence
        return np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", diff, self.precision, diff), 0.0))

    def score(self, gains: np.ndarray, noise_w: np.ndarray | float, pmax_w: np.ndarray | float,
              csi_mask: np.ndarray | None = None) -> np.ndarray:
        """Shift score per snapshot of ``gains [n, K, K]`` -> ``[n]`` (0: the training mean)."""
        return self.score_descriptors(descriptors(gains, noise_w, pmax_w, csi_mask))

    def to_json(self) -> dict[str, Any]:
        """The ``shift_stats`` metadata entry."""
        return {"version": STATS_VERSION, "descriptors": list(DESCRIPTORS),
                "mean": self.mean.tolist(), "covariance": self.covariance.tolist(),
                "k_range": list(self.k_range), "n": self.n, "source": self.source,
                "quantiles": list(QUANTILES), "feature_quantiles": self.feature_quantiles,
                "score_quantiles": self.score_quantiles}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShiftStats:
        """Parse a ``shift_stats`` entry; CheckpointError when it does not fit."""
        try:
            if data["version"] != STATS_VERSION or list(data["descriptors"]) != list(DESCRIPTORS):
                raise ValueError(f"version {data['version']} / descriptors {data['descriptors']}")
            mean = np.asarray(data["mean"], np.float64)
            cov = np.asarray(data["covariance"], np.float64)
            if mean.shape != (len(DESCRIPTORS),) or cov.shape != (len(DESCRIPTORS),) * 2:
                raise ValueError(f"shapes {mean.shape} and {cov.shape}")
            lo, hi = (int(v) for v in data["k_range"])
            return cls(mean, cov, (lo, hi), int(data["n"]), str(data["source"]),
                       {str(k): [float(x) for x in v]
                        for k, v in data["feature_quantiles"].items()},
                       [float(x) for x in data["score_quantiles"]])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"checkpoint shift_stats do not fit this version ({err})"
                                  ) from None


def fit_stats(snapshots: Iterable[tuple[np.ndarray, np.ndarray | float, np.ndarray | float]],
              source: str) -> ShiftStats:
    """Statistics of training snapshots.

    Args:
        snapshots: ``(gains [n, K, K], noise_w, pmax_w)`` groups (one per
            catalog entry), as the model was trained on them.
        source: the data spec, stored for provenance.
    """
    parts, ks = [], []
    for gains, noise_w, pmax_w in snapshots:
        parts.append(descriptors(gains, noise_w, pmax_w))
        ks.append(int(np.shape(gains)[-1]))
    if not parts:
        raise ValueError("no training snapshots")
    d = np.concatenate(parts)
    d = d[~np.isnan(d).any(-1)]
    stats = ShiftStats(d.mean(0), np.cov(d, rowvar=False), (min(ks), max(ks)), len(d), source,
                       {}, [])
    feature_q = {name: np.quantile(d[:, i], QUANTILES).tolist()
                 for i, name in enumerate(DESCRIPTORS)}
    score_q = np.quantile(stats.score_descriptors(d), QUANTILES).tolist()
    return ShiftStats(stats.mean, stats.covariance, stats.k_range, stats.n, source,
                      feature_q, score_q)
