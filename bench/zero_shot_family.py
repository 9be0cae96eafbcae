"""Zero-shot sum rate on corpus families (held out of pre-training or not) vs WMMSE-Best.

For each family and K: ``--n`` snapshots drawn from the family's generator
(seeded, not from any training stream: seed 10,000 + K), each policy's mean
sum rate and its ratio to WMMSE-Best's (100 random starts + full power),
next to full reuse (every link at Pmax) and one WMMSE run. ``--checkpoint
NAME=DIR`` adds GFM sum heads (e.g. the shipped one and one fine-tuned on a
backbone pre-trained on the new corpus). ``--adapt`` lists the test-time
adaptations each checkpoint runs with (:mod:`rrm.models.gfm.adapt`), side by
side on the same snapshots: ``off`` (the model as it is), ``ceiling`` (the
SNR ceiling, the policy's default), ``ensemble`` (ceiling + ensemble); the
share of snapshots above the SNR ceiling is reported per checkpoint. A family
named ``ENTRY`` (e.g. ``D18``) is the first ``--n`` test snapshots of a catalog
entry (its own K; ``--k`` is ignored), ``ENTRY+XdB`` (e.g. ``D18+30dB``) the same
with every gain x 10^(X/10) (a field whose noise lies X dB below the simulator's).

Run: ``python bench/zero_shot_family.py --families gaussian-ic --k 20 --n 100
--checkpoint shipped=rrm/models/checkpoints/gfm-small-sum --adapt off,ceiling``.
Writes bench/results/zero_shot_family.md (+ .json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, save_results  # noqa: E402

from rrm.core.objectives import get_objective  # noqa: E402
from rrm.core.types import InterferenceState  # noqa: E402
from rrm.models.gfm.adapt import direct_inr_db_mean  # noqa: E402
from rrm.models.gfm.evaluate import mean_utility, normalised  # noqa: E402
from rrm.models.gfm.experiments import test_state  # noqa: E402
from rrm.models.gfm.policy import GFMPolicy  # noqa: E402
from rrm.models.policy import Policy, make_policy  # noqa: E402
from rrm.sim.scenarios.corpus import FAMILIES  # noqa: E402

# --adapt choice -> (policy-name suffix, GFMPolicy keyword arguments)
ADAPT: dict[str, tuple[str, dict[str, Any]]] = {
    "off": ("", {"snr_ceiling": False}),
    "ceiling": (" +ceiling", {}),
    "ensemble": (" +ceiling+ensemble", {"ensemble": True}),
    "polish": (" +polish", {"snr_ceiling": False, "polish": True}),
    "ceiling+polish": (" +ceiling+polish", {"polish": True}),
    "ensemble+polish": (" +ceiling+ensemble+polish", {"ensemble": True, "polish": True}),
}


def draw(family: str, n: int, k: int) -> InterferenceState:
    """``n`` snapshots of ``family`` at ``k`` links (module docstring)."""
    if family not in FAMILIES:  # a catalog entry, e.g. D18, or D18+30dB
        entry, _, shift = family.partition("+")
        state = test_state(entry, n)
        scale = 10 ** (float(shift[:-2]) / 10) if shift else 1.0
        return InterferenceState(np.asarray(state.gains) * scale, state.noise_w, state.pmax_w)
    snaps = FAMILIES[family](np.random.default_rng(10_000 + k), n, k)
    return InterferenceState(snaps.gains, snaps.noise_w, snaps.pmax_w)


def gfm_policies(specs: list[str], adapt: list[str]) -> dict[str, Policy]:
    """``gfm (NAME)[ +adaptation]`` for every ``NAME=DIR`` and adaptation."""
    out: dict[str, Policy] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        for mode in adapt:
            suffix, options = ADAPT[mode]
            out[f"gfm ({name}){suffix}"] = GFMPolicy(path, **options)
    return out


def fired_share(policy: Policy, state: InterferenceState) -> float:
    """Share of snapshots above ``policy``'s SNR ceiling (NaN: it has none)."""
    ceiling = policy._ceilings.get(policy._path_for("sum")) if isinstance(  # noqa: SLF001
        policy, GFMPolicy) else None
    if ceiling is None:
        return float("nan")
    k = state.num_links
    n = len(state.gains)
    d0 = direct_inr_db_mean(np.asarray(state.gains), state.noise_per_link.reshape(n, k),
                            state.pmax_per_link.reshape(n, k))
    return float(np.mean(d0 > ceiling.threshold_db))


def reference_utility(state: InterferenceState, cache: Path | None,
                      objective: str = "sum") -> float:
    """WMMSE-Best's mean utility (``sum``: sum rate) on ``state``; with ``cache`` (a
    directory) kept there in a small JSON file named by a digest of the snapshots, the
    objective and the policy's version, so a rerun on the same snapshots skips the
    multi-start solve."""
    policy = make_policy("wmmse-best")
    path = None
    if cache is not None:
        h = hashlib.blake2b(digest_size=16)
        for part in (state.gains, state.noise_w, state.pmax_w):
            h.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
        h.update(repr((objective, policy.version, getattr(policy, "starts", None))).encode())
        path = cache / f"zero-shot-reference-{h.hexdigest()}.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            return float(saved.get("utility", saved.get("sum_rate")))  # sum_rate: older files
    rate = mean_utility(state, policy.decide(state, get_objective(objective)).power_w,
                        objective)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"utility": rate, "objective": objective,
                                    "shape": list(np.shape(state.gains))}))
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default="gaussian-ic")
    parser.add_argument("--k", default="20", help="comma list of K")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--adapt", default="off", help=f"comma list of {sorted(ADAPT)}")
    parser.add_argument("--stem", default="zero_shot_family")
    parser.add_argument("--objective", default="sum", choices=["sum", "pf", "qos"],
                        help="utility decided for and scored (ratio: the sign-safe "
                             "normalisation of rrm.models.gfm.evaluate.normalised)")
    parser.add_argument("--reference-cache", type=Path, default=None, metavar="DIR",
                        help="keep WMMSE-Best's figures there (reruns skip the solve)")
    args = parser.parse_args()
    adapt = args.adapt.split(",")
    gfm = gfm_policies(args.checkpoint, adapt)
    rows = []
    objective, what = get_objective(args.objective), (
        "sum rate (bit/s/Hz)" if args.objective == "sum" else f"{args.objective} utility")
    lines = [f"# Zero-shot {what.split(' (')[0]} on corpus families, ratio to WMMSE-Best", "",
             machine_line(),
             f"Command: `python bench/zero_shot_family.py {' '.join(sys.argv[1:])}`",
             "", f"| family | K | policy | mean {what} | ratio to WMMSE-Best "
             "| above SNR ceiling |", "|---|---|---|---|---|---|"]
    for family in args.families.split(","):
        for k in (int(x) for x in args.k.split(",")):
            state = draw(family, args.n, k)
            links = state.num_links  # a catalog entry has its own K
            policies: dict[str, Policy] = {"full-reuse": make_policy("full-reuse"),
                                           "wmmse": make_policy("wmmse"), **gfm}
            rates = {"wmmse-best": reference_utility(state, args.reference_cache, args.objective)}
            rates.update({name: mean_utility(state, policy.decide(state, objective).power_w,
                                             args.objective)
                          for name, policy in policies.items()})  # batched: per-snapshot budgets
            key = "sum_rate" if args.objective == "sum" else "utility"
            for name, rate in rates.items():
                ratio = normalised(rate, rates["wmmse-best"], args.objective, links)
                fired = fired_share(policies[name], state) if "ceiling" in name else float("nan")
                rows.append({"family": family, "k": links, "policy": name, key: rate,
                             "ratio": ratio, "above_ceiling": fired})
                shown = "" if np.isnan(fired) else f"{fired:.2f}"
                lines.append(f"| {family} | {links} | {name} | {rate:.3f} | {ratio:.3f} "
                             f"| {shown} |")
    print(save_results(args.stem, lines, rows))


if __name__ == "__main__":
    main()
