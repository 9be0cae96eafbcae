"""Figures of the diffusion study (matplotlib, Agg backend; PNG files).

* :func:`plot_expert_dynamics`: seed 004, Fig. 1 (left): dual multipliers of
  one network and the per-iteration fraction of violated constraints.
* :func:`plot_time_evolution`: Fig. 2: ergodic p1 / p5 / mean rates over slots.
* :func:`plot_fmin_sweep`: Fig. 3: percentile rates vs f_min (unseen hollow).
* :func:`plot_transfer`: Fig. 4: percentile rates vs network size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rrm.core.optional import pyplot

FloatArray = NDArray[np.float64]


def moving_average(x: FloatArray, width: int) -> FloatArray:
    """Trailing moving average along the last axis (shorter at the start)."""
    c = np.cumsum(np.asarray(x, dtype=np.float64), axis=-1)
    out = c.copy()
    out[..., width:] = c[..., width:] - c[..., :-width]
    counts = np.minimum(np.arange(1, x.shape[-1] + 1), width)
    return np.asarray(out / counts, dtype=np.float64)


def plot_expert_dynamics(duals: FloatArray, violated: FloatArray, worst: FloatArray,
                         f_min: FloatArray, path: str | Path, users: int = 5,
                         window: int = 200) -> Path:
    """``duals [L, T_d, N]``, ``violated/worst [L, T]`` for L f_min levels of one network."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(8, 6.5), sharex=False)
    level = len(f_min) // 2
    top = np.argsort(duals[level, -1])[::-1][:users]
    for j in top:
        axes[0].plot(duals[level, :, j], lw=0.8, label=f"user {j}")
    axes[0].set(title=f"dual multipliers, f_min = {f_min[level]:.1f} (one network)",
                xlabel="dual update", ylabel="lambda")
    axes[0].legend(fontsize=7)
    for i, f in enumerate(f_min):
        axes[1].plot(moving_average(violated[i], window), lw=0.9, label=f"f_min {f:.1f}")
    axes[1].set(title=f"fraction of violated constraints ({window}-iteration moving average)",
                xlabel="primal iteration", ylabel="violated share")
    axes[1].legend(fontsize=7, loc="upper right")
    slack = axes[1].twinx()  # the worst-case slack, dashed, at the reference level
    slack.plot(moving_average(worst[level], window), "k--", lw=0.8)
    slack.set_ylabel(f"worst slack at f_min {f_min[level]:.1f} (dashed), bit/s/Hz")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_time_evolution(curves: dict[str, dict[str, FloatArray]], f_min: float,
                        path: str | Path) -> Path:
    """``curves[policy][metric] [T]`` for metric in p1, p5, mean."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, metric in zip(axes, ("p1", "p5", "mean"), strict=True):
        for name, c in curves.items():
            ax.plot(np.arange(1, len(c[metric]) + 1), c[metric], label=name, lw=1.2)
        if metric != "mean":
            ax.axhline(f_min, color="k", ls=":", lw=0.8)
        ax.set(title=f"ergodic {metric} rate", xlabel="slot", ylabel="bit/s/Hz")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_fmin_sweep(levels: FloatArray, rows: list[dict[str, float]], trained: set[float],
                    path: str | Path) -> Path:
    """Percentiles vs f_min; filled markers for training levels, hollow for unseen."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for metric, color in (("p1", "C0"), ("p5", "C1"), ("p10", "C2")):
        y = np.array([r[metric] for r in rows])
        seen = np.array([round(f, 2) in trained for f in levels])
        ax.plot(levels, y, color=color, lw=0.8)
        ax.scatter(levels[seen], y[seen], color=color, label=metric)
        ax.scatter(levels[~seen], y[~seen], facecolors="none", edgecolors=color)
    ax.plot(levels, levels, "k:", lw=0.8, label="f_min")
    ax.set(xlabel="f_min (bit/s/Hz)", ylabel="ergodic rate (bit/s/Hz)",
           title="U-GNN across f_min (hollow: unseen)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_transfer(sizes: list[int], rows: list[dict[str, float]], f_min: float,
                  path: str | Path) -> Path:
    """Percentile rates of the U-GNN vs network size N."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for metric in ("p1", "p5", "p10"):
        ax.plot(sizes, [r[metric] for r in rows], marker="o", label=metric)
    ax.axhline(f_min, color="k", ls=":", lw=0.8)
    ax.set(xlabel="network size N", ylabel="ergodic rate (bit/s/Hz)",
           title=f"U-GNN transfer across N (f_min = {f_min})", xscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
