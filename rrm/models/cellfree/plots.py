"""Markdown tables and one PNG (six panels) from ``rrm egat eval`` results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rrm.core.optional import pyplot

ORDER = ("egat", "engnn", "dnn", "ao-sca", "pc-wmmse", "fc-zf")
NAN = float("nan")
COLOURS = dict(zip(ORDER, ("C0", "C1", "C2", "C3", "C4", "C5"), strict=True))


def _names(sweep: dict[str, Any]) -> list[str]:
    """Policies present in any setting of a sweep, in report order."""
    return [n for n in ORDER if any(n in row for row in sweep.values())]


def _mean(row: dict[str, Any], name: str) -> float:
    return float(np.mean(row[name]["wsr"])) if name in row else NAN


def _aps(row: dict[str, Any], name: str) -> float:
    return float(row[name]["aps_per_ue"]) if name in row else NAN


def write_png(res: dict[str, Any], path: Path) -> None:
    """CDF (Fig. 5), WSR vs C (Fig. 6), vs B (Fig. 7), vs K (Fig. 8), APs/UE (Fig. 9), time."""
    plt = pyplot()
    fig, ax = plt.subplots(2, 3, figsize=(15, 8.5))
    cap = res["capacity"]
    mid = "60" if "60" in cap else sorted(cap, key=float)[len(cap) // 2]
    for name in _names({mid: cap[mid]}):
        w = np.sort(cap[mid][name]["wsr"])
        ax[0, 0].step(w, np.arange(1, len(w) + 1) / len(w), where="post", label=name,
                        color=COLOURS[name])
    ax[0, 0].set(xlabel="weighted sum rate (bit/s/Hz)", ylabel="CDF",
                 title=f"Fig. 5: CDF, B=8, K=4, C={mid} Mbit/s")
    for panel, key, xlabel, title in ((ax[0, 1], "capacity", "fronthaul capacity (Mbit/s)",
                                       "Fig. 6: sum rate vs capacity"),
                                      (ax[0, 2], "aps", "APs B (K=4)", "Fig. 7: vs B"),
                                      (ax[1, 0], "ues", "UEs K (B=8)", "Fig. 8: vs K")):
        sweep = res[key]
        xs = sorted(sweep, key=float)
        for name in _names(sweep):
            panel.plot([float(x) for x in xs], [_mean(sweep[x], name) for x in xs], "o-",
                       label=name, color=COLOURS[name])
        panel.set(xlabel=xlabel, ylabel="mean WSR (bit/s/Hz)", title=title)
    ues = res["ues"]
    ks = sorted(ues, key=float)
    for name in _names(ues):
        ax[1, 1].plot([float(k) for k in ks], [_aps(ues[k], name) for k in ks], "o-",
                      label=name, color=COLOURS[name])
    ax[1, 1].set(xlabel="UEs K (B=8)", ylabel="serving APs per UE", title="Fig. 9")
    tim = res["timing"]
    ks = sorted(tim, key=float)
    for name in _names(tim):
        ax[1, 2].semilogy([float(k) for k in ks], [1e3 * tim[k][name] for k in ks], "o-",
                          label=name, color=COLOURS[name])
    ax[1, 2].set(xlabel="UEs K (B=8)", ylabel="ms per instance", title="Fig. 10: inference time")
    for a in ax.flat:
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _table(sweep: dict[str, Any], label: str, fmt: str, value: Any) -> list[str]:
    xs = sorted(sweep, key=float)
    names = _names(sweep)
    lines = [f"| {label} | " + " | ".join(xs) + " |", "|---" * (len(xs) + 1) + "|"]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(fmt.format(value(sweep[x], name)) for x in xs)
                     + " |")
    return lines


def write_markdown(res: dict[str, Any], path: Path, png: str) -> None:
    """The report: settings, tables (mean WSR, feasibility, APs/UE, time) and the figure."""
    m = res["meta"]
    feas = lambda row, n: row[n]["feasible_raw"] if n in row else NAN  # noqa: E731
    lines = ["# Cell-free downlink with fronthaul limits: EGAT vs baselines", "",
             f"Command: `{m['command']}`  ", f"Machine: {m['machine']}; wall time {m['wall_s']} s. "
             f"Instances per setting: {m['n']} (AO-SCA: the first {m['n_aosca']} of them, "
             f"{m['aosca_iter']} iterations). Scenario: EGAT Table I / sec. V-A (B=8, K=4, M=2, "
             "1 W, -85 dBm, 10 MHz, 60 Mbit/s unless swept). Checkpoint: "
             f"`{m['checkpoint']}`" + (f", ablation `{m['ablation']}`" if m["ablation"] else "")
             + ".", "",
             "WSR is measured after the heuristic fronthaul scaling of sec. V-A (the baselines "
             "are feasible by construction, so it leaves them unchanged); feasibility is of the "
             "policy's own answer, without scaling.", "",
             f"![cell-free results]({png})", "", "Training of the learned policies "
             "(one CPU thread; weights of the validation step with the best feasible WSR):", ""]
    for name, t in m.get("training", {}).items():
        lines.append(f"- {name}: `{t['command']}` ({t['wall_time_s']} s, {t['machine']}, "
                     f"best step {t['best_step']})")
    lines += ["",
             "## Mean weighted sum rate (bit/s/Hz) vs fronthaul capacity (Mbit/s), Fig. 6", ""]
    lines += _table(res["capacity"], "policy \\ C", "{:.2f}", _mean)
    lines += ["", "## Feasibility without scaling vs capacity (Table II)", ""]
    lines += _table(res["capacity"], "policy \\ C", "{:.3f}", feas)
    lines += ["", "## Feasibility without scaling vs B, K=4, C=60 (Table III)", ""]
    lines += _table(res["aps"], "policy \\ B", "{:.3f}", feas)
    lines += ["", "## Feasibility without scaling vs K, B=8, C=60 (Table IV)", ""]
    lines += _table(res["ues"], "policy \\ K", "{:.3f}", feas)
    lines += ["", "## Mean WSR vs B (Fig. 7) and vs K (Fig. 8)", ""]
    lines += _table(res["aps"], "policy \\ B", "{:.2f}", _mean) + [""]
    lines += _table(res["ues"], "policy \\ K", "{:.2f}", _mean)
    lines += ["", "## Serving APs per UE vs K (Fig. 9)", ""]
    lines += _table(res["ues"], "policy \\ K", "{:.2f}", _aps)
    lines += ["", "## Inference time per instance, ms, one instance per call (Fig. 10)", ""]
    lines += _table(res["timing"], "policy \\ K", "{:.2f}",
                    lambda r, n: 1e3 * r[n] if n in r else NAN)
    path.write_text("\n".join(lines) + "\n")
