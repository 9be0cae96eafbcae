"""Fuzz the xApp's wire input: N random hostile indications through parse + slot loop.

Each case is drawn (seeded numpy generator) from one of the families below,
sent through what a transport does with received bytes (``parse``) and then
``SlotLoop.process``, and classified: ``answered`` (a feasible allocation),
``refused:<cause>``, ``dropped:<reason>`` or ``crashed`` (an exception
escaped: a bug). Memory: RSS sampled every ``--sample`` cases and the peak,
to show that thousands of hostile messages do not grow the process.
Prints a table and writes bench/results/fuzz_wire.md (+ .json).
Run: ``nice python bench/fuzz_wire.py [--cases 20000] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info, machine_line  # noqa: E402

from rrm.core.errors import InvalidMessage  # noqa: E402
from rrm.core.types import InterferenceState  # noqa: E402
from rrm.core.wire import e2_pb2 as pb  # noqa: E402
from rrm.core.wire.codec import encode_indication, parse  # noqa: E402
from rrm.core.wire.messages import AckMsg, Header, IndicationMsg, Outcome, Refusal  # noqa: E402
from rrm.core.wire.tensor import to_tensor  # noqa: E402
from rrm.models.policy import make_policy  # noqa: E402
from rrm.xapp.decision import Decider  # noqa: E402
from rrm.xapp.guards import GuardConfig  # noqa: E402
from rrm.xapp.health import HealthState  # noqa: E402
from rrm.xapp.logs import configure_logging  # noqa: E402
from rrm.xapp.loop import SlotLoop  # noqa: E402
from rrm.xapp.metrics import XAppMetrics  # noqa: E402
from rrm.xapp.transport.base import Acked, receive  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
MAX_LINKS = 16  # configured K limit of the fuzzed xApp
PMAX_W = 0.01
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1e-12, 1e-300, 1e300, 5e-324])


class AckingClient:
    """The transport's control side: acks every control."""

    def control(self, request, timeout_s):  # noqa: ANN001, ANN201
        return Acked(AckMsg(request.header, Outcome.ACCEPTED), b"", b"")


def base(rng: np.random.Generator, k: int, seq: int) -> pb.Indication:
    now = time.time_ns()
    gains = rng.uniform(1e-13, 1e-11, (k, k)) + np.diag(rng.uniform(1e-10, 1e-8, k))
    state = InterferenceState(gains, 1e-13, np.full(k, PMAX_W))
    return encode_indication(IndicationMsg(Header("n0", seq, seq, now, now + 10**9, "c"),
                                           "d2d", state))


def _poison(rng: np.random.Generator, m: pb.Indication, k: int) -> None:
    g = rng.uniform(1e-13, 1e-11, (k, k))
    idx = rng.integers(0, k, size=(rng.integers(1, 4), 2))
    g[idx[:, 0], idx[:, 1]] = rng.choice(SPECIALS, size=len(idx))
    to_tensor(g, m.d2d.gains)


def _truncate(rng: np.random.Generator, data: bytes) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def _flip(rng: np.random.Generator, data: bytes) -> bytes:
    buf = bytearray(data)
    for pos in rng.integers(0, len(buf), size=int(rng.integers(1, 9))):
        buf[pos] = int(rng.integers(0, 256))
    return bytes(buf)


FAMILIES = ("garbage", "truncated", "bit_flips", "non_finite_or_signed_gains",
            "extreme_dynamic_range", "wrong_dimensions", "bad_noise_or_budget",
            "k_equals_1", "k_above_limit", "duplicate_or_stale_seq", "unknown_scenario",
            "future_version", "hostile_tensor_header", "valid")


def draw_case(rng: np.random.Generator, family: str, seq: int) -> tuple[bytes, str | None]:
    """(wire bytes, channel id to force or None) of one case of ``family``."""
    k = int(rng.integers(2, 12))
    m = base(rng, k, seq)
    channel = f"ch-{seq}"
    if family == "garbage":
        return rng.bytes(int(rng.integers(0, 4096))), channel
    if family == "truncated":
        return _truncate(rng, m.SerializeToString()), channel
    if family == "bit_flips":
        return _flip(rng, m.SerializeToString()), channel
    if family == "non_finite_or_signed_gains":
        _poison(rng, m, k)
    elif family == "extreme_dynamic_range":
        g = np.full((k, k), 10.0 ** rng.uniform(-300, -200))
        np.fill_diagonal(g, 10.0 ** rng.uniform(-5, 300))
        to_tensor(g, m.d2d.gains)
    elif family == "wrong_dimensions":
        shape = [(k, k + 1), (k + 1, k), (k * k,), (k, k, 1)][int(rng.integers(0, 4))]
        to_tensor(rng.uniform(1e-12, 1e-9, shape), m.d2d.gains)
    elif family == "bad_noise_or_budget":
        m.d2d.noise_w = float(rng.choice(SPECIALS))
        to_tensor(np.full(k, rng.choice(SPECIALS)), m.d2d.pmax_w)
    elif family == "k_equals_1":
        m = base(rng, 1, seq)
    elif family == "k_above_limit":
        m = base(rng, int(rng.integers(MAX_LINKS + 1, 4 * MAX_LINKS)), seq)
    elif family == "duplicate_or_stale_seq":
        m.header.sequence_number = int(rng.integers(0, seq + 1))
        channel = "replayed"  # one channel: most of these repeat an earlier number
    elif family == "unknown_scenario":
        m.ClearField("d2d")
        return m.SerializeToString() + b"\x9a\x06\x02\x08\x01", channel  # field 99
    elif family == "future_version":
        m.header.protocol_version = int(rng.integers(2, 2**31))
    elif family == "hostile_tensor_header":
        m.d2d.gains.shape[:] = [int(x) for x in rng.integers(0, 2**32, size=rng.integers(0, 4))]
        if rng.random() < 0.5:
            m.d2d.gains.dtype = int(rng.integers(0, 2**16))
    return m.SerializeToString(), channel


def classify(loop: SlotLoop, data: bytes, channel: str | None) -> str:
    try:
        msg = parse(pb.Indication, data)
    except InvalidMessage:
        return "dropped:unparseable"
    if channel is not None:
        msg.header.channel_id = channel
    control = loop.process(receive(msg))
    if control is None:
        return "dropped:sequence"
    if isinstance(control.decision, Refusal):
        return f"refused:{control.decision.cause.name.lower()}"
    power = np.asarray(control.decision.power_w)
    if not (np.all(np.isfinite(power)) and np.all(power >= 0)):
        return "crashed:infeasible_answer"
    return "answered"


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def run(cases: int, seed: int, sample: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    decider = Decider(make_policy("full-reuse"), make_policy("wmmse", max_iter=20),
                      GuardConfig(max_links=MAX_LINKS), "sum")
    loop = SlotLoop(AckingClient(), decider, XAppMetrics(), HealthState())
    outcomes: Counter[str] = Counter()
    by_family: dict[str, Counter[str]] = {f: Counter() for f in FAMILIES}
    rss: list[tuple[int, float]] = [(0, rss_mib())]
    first_crash = ""
    t0 = time.perf_counter()
    for i in range(cases):
        family = FAMILIES[int(rng.integers(0, len(FAMILIES)))]
        data, channel = draw_case(rng, family, seq=i + 1)
        try:
            outcome = classify(loop, data, channel)
        except Exception:  # noqa: BLE001 - counting crashes is the point
            outcome = "crashed"
            first_crash = first_crash or traceback.format_exc()
        outcomes[outcome] += 1
        by_family[family][outcome] += 1
        if (i + 1) % sample == 0:
            rss.append((i + 1, rss_mib()))
    decider.close()
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, max(r for _, r in rss))
    kinds = Counter(o.split(":")[0] for o in outcomes.elements())
    return {"cases": cases, "seed": seed, "seconds": time.perf_counter() - t0,
            "totals": dict(kinds), "outcomes": dict(outcomes),
            "by_family": {f: dict(c) for f, c in by_family.items()},
            "rss_mib": rss, "peak_rss_mib": peak, "first_crash": first_crash}


def write(result: dict[str, object]) -> str:
    totals = result["totals"]
    assert isinstance(totals, dict)
    rss = result["rss_mib"]
    assert isinstance(rss, list)
    lines = ["# Wire fuzzing: hostile indications through the xApp", "",
             machine_line() + " Shared with other jobs while it ran (`nice`).", "",
             f"{result['cases']} cases (seed {result['seed']}) in {result['seconds']:.1f} s: "
             f"answered {totals.get('answered', 0)}, refused {totals.get('refused', 0)}, "
             f"dropped {totals.get('dropped', 0)}, **crashed {totals.get('crashed', 0)}**. "
             f"RSS {rss[0][1]:.0f} MiB after warm-up -> {rss[-1][1]:.0f} MiB at the end "
             f"(peak {result['peak_rss_mib']:.0f} MiB).", "",
             "RSS (MiB) by cases processed: " + ", ".join(f"{n}: {r:.0f}" for n, r in rss) + ".",
             "The slot loop keeps latency and per-stage samples of the last 100,000 slots "
             "(`rrm/xapp/loop.py` LATENCY_WINDOW); RSS grows while those windows fill and is flat "
             "after them. Sequence-number and metric-label tables are capped (4,096 streams, "
             "256 node labels).", "",
             "| family | outcomes |", "|---|---|"]
    by_family = result["by_family"]
    assert isinstance(by_family, dict)
    for family, counts in by_family.items():
        lines.append(f"| {family} | " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                     + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=1000, help="RSS sample period, cases")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    configure_logging("error")
    result = run(args.cases, args.seed, args.sample)
    text = write(result)
    print(text)
    if result["first_crash"]:
        print(result["first_crash"], file=sys.stderr)
    if not args.no_write:
        OUT.mkdir(exist_ok=True)
        (OUT / "fuzz_wire.md").write_text(text)
        (OUT / "fuzz_wire.json").write_text(json.dumps({"machine": machine_info(), **result},
                                                       indent=1))
    sys.exit(1 if result["totals"].get("crashed") else 0)  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
