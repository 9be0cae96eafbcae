"""The interference graph of one decision as a PNG (``rrm explain --out``; needs ``rrm[plots]``).

Links (tx-rx pairs) sit on a circle, coloured by their power share
``p_k / pmax_k``; an arrow j -> k is the interference transmitter j causes at
receiver k, coloured by the rate it costs link k
(:func:`rrm.xapp.explain.interferer_costs`). Only the strongest arrows are
drawn (at most ``3 K``) so that a K = 50 graph stays readable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rrm.core.optional import pyplot
from rrm.core.types import InterferenceState
from rrm.xapp.explain import interferer_costs

EDGES_PER_LINK = 3


def interference_graph_png(state: InterferenceState, power_w: np.ndarray, path: str | Path,
                           highlight: int | None = None, title: str = "") -> Path:
    """Write the graph of ``state`` (``gains [K, K]``) under ``power_w [K]`` W to ``path``."""
    plt = pyplot()
    k = state.num_links
    p = np.asarray(power_w, dtype=np.float64)
    cost = interferer_costs(state.gains, p, state.noise_per_link)  # (K, K) rx k, tx j
    angle = 2 * np.pi * np.arange(k) / k
    xy = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (K, 2)
    fig, ax = plt.subplots(figsize=(6.4, 6.0), dpi=110)
    edges = np.argsort(-cost, axis=None)[: EDGES_PER_LINK * k]
    strongest = float(cost.max()) or 1.0
    cmap = plt.get_cmap("Reds")
    for flat in edges:
        rx, tx = divmod(int(flat), k)
        if cost[rx, tx] <= 0:
            continue
        share = cost[rx, tx] / strongest
        ax.annotate("", xy=xy[rx], xytext=xy[tx],
                    arrowprops={"arrowstyle": "->", "color": cmap(0.25 + 0.75 * share),
                                "lw": 0.5 + 2.5 * share, "alpha": 0.8,
                                "shrinkA": 8, "shrinkB": 8})
    dots = ax.scatter(xy[:, 0], xy[:, 1], c=p / state.pmax_per_link, cmap="viridis",
                      vmin=0, vmax=1, s=160, zorder=3, edgecolors="black")
    if highlight is not None:
        ax.scatter(*xy[highlight], s=420, facecolors="none", edgecolors="red", lw=2, zorder=4)
    for i in range(k):
        ax.text(*(xy[i] * 1.12), str(i), ha="center", va="center", fontsize=7)
    fig.colorbar(dots, ax=ax, shrink=0.7, label="power / pmax")
    ax.set_title(title or "interference graph (arrows: rate cost, darker = larger)", fontsize=9)
    ax.set_axis_off()
    ax.set_aspect("equal")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out
