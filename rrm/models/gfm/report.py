"""Markdown tables and PNG figures for the GFM-RA evaluation suite.

Each ``write_*`` function takes the rows of one experiment of
:mod:`rrm.models.gfm.experiments`, writes ``<stem>.md``, ``<stem>.png`` and
``<stem>.json`` into ``out`` and returns the markdown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rrm.core.optional import pyplot

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Row = dict[str, object]


def markdown_table(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """A markdown table of ``columns`` (floats with 4 significant decimals)."""

    def cell(v: object) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _save(out: Path, stem: str, title: str, intro: str, rows: Sequence[Row],
          columns: Sequence[str], fig: Figure) -> str:
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out / f"{stem}.png", dpi=120)
    pyplot().close(fig)
    text = f"# {title}\n\n{intro}\n\n{markdown_table(rows, columns)}\n\n![{stem}]({stem}.png)\n"
    (out / f"{stem}.md").write_text(text)
    (out / f"{stem}.json").write_text(json.dumps(list(rows), indent=1))
    return text


def _series(rows: Sequence[Row], key: str, x: str, y: str,
            **where: object) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = {}
    for r in rows:
        if all(r.get(k) == v for k, v in where.items()):
            xs, ys = out.setdefault(str(r[key]), ([], []))
            xs.append(float(r[x]))  # type: ignore[arg-type]
            ys.append(float(r[y]))  # type: ignore[arg-type]
    return out


def _plot_lines(ax: Axes, series: dict[str, tuple[list[float], list[float]]],
                xlabel: str, ylabel: str, title: str = "") -> None:
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def write_per_k(rows: Sequence[Row], out: Path, intro: str) -> str:
    """Fig. 4: normalised utility vs K, one panel per objective."""
    objectives = list(dict.fromkeys(str(r["objective"]) for r in rows))
    plt = pyplot()
    fig, axes = plt.subplots(1, len(objectives), figsize=(4.2 * len(objectives), 3.4),
                             squeeze=False)
    for ax, objective in zip(axes[0], objectives, strict=True):
        _plot_lines(ax, _series(rows, "policy", "K", "ratio", objective=objective),
                    "K (links)", "utility / WMMSE-Best", objective)
    return _save(out, "fig4_per_k", "Normalised utility per K (Fig. 4)", intro, rows,
                 ["entry", "K", "objective", "policy", "ratio", "violation",
                  "ms_per_snapshot"], fig)


def write_missing_csi(rows: Sequence[Row], out: Path, intro: str) -> str:
    """Fig. 5: normalised utility vs share of unreported cross links."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    series = _series(rows, "policy", "missing", "ratio")
    _plot_lines(ax, {k: ([100 * x for x in xs], ys) for k, (xs, ys) in series.items()},
                "unreported cross links (%)", "utility / WMMSE-Best (full CSI)")
    return _save(out, "fig5_missing_csi", "Robustness to missing CSI (Fig. 5)", intro, rows,
                 ["entry", "objective", "missing", "policy", "ratio", "violation"], fig)


def write_few_shot(rows: Sequence[Row], out: Path, intro: str) -> str:
    """Figs. 6-8: normalised utility (and QoS violation rate) vs number of shots."""
    objective = str(rows[0]["objective"]) if rows else "sum"
    entries = list(dict.fromkeys(str(r["entry"]) for r in rows))
    shown = "mean" if "mean" in entries else (entries[0] if entries else "")
    panels = 2 if objective == "qos" else 1
    plt = pyplot()
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), squeeze=False)
    _plot_lines(axes[0][0], _series(rows, "init", "shots", "ratio", entry=shown), "shots (N)",
                "utility / WMMSE-Best", f"{objective}, {shown}")
    axes[0][0].set_xscale("log", base=2)
    if panels == 2:
        _plot_lines(axes[0][1], _series(rows, "init", "shots", "violation", entry=shown),
                    "shots (N)", "QoS violation rate")
        axes[0][1].set_xscale("log", base=2)
    return _save(out, f"fig6_few_shot_{objective}", f"Few-shot fine-tuning, {objective} "
                 "(Figs. 6-8)", intro, rows,
                 ["entry", "objective", "init", "shots", "batch", "ratio", "ratio_refined",
                  "violation", "train_s"],
                 fig)


def write_variants(rows: Sequence[Row], out: Path, stem: str, title: str, x: str,
                   intro: str) -> str:
    """Figs. 9-11: normalised utility per pre-training variant (x: a numeric column)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    xs = [float(r[x]) for r in rows]  # type: ignore[arg-type]
    ax.plot(xs, [float(r["ratio"]) for r in rows], marker="o")  # type: ignore[arg-type]
    for xv, r in zip(xs, rows, strict=True):
        ax.annotate(str(r["variant"]), (xv, float(r["ratio"])), fontsize=7)  # type: ignore[arg-type]
    ax.set_xlabel(x)
    ax.set_ylabel("utility / WMMSE-Best")
    ax.grid(alpha=0.3)
    return _save(out, stem, title, intro, rows,
                 ["variant", "params", "mask_ratio", "cl_weight", "shots", "ratio",
                  "pretrain_s", "train_s"], fig)
