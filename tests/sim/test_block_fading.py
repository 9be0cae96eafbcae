"""The node's block fading: Exp(1) power draws, the old law, seeded, and only where rho = 0."""

import numpy as np
import pytest
from scipy import stats

from rrm.sim.fading import BlockFading, FadingProcess
from rrm.sim.nodes import NodeSpec, build_node, node_fading


def block_gains(seed, slots=4, shape=(30, 30)):
    f = BlockFading()
    draws = [f.reset(np.random.default_rng(seed), shape)]
    draws += [f.step() for _ in range(slots - 1)]
    return np.stack(draws)  # (T, *shape)


def old_block_gains(seed, slots=4, shape=(30, 30)):
    f = FadingProcess(0.0)
    draws = [f.reset(np.random.default_rng(seed), shape)]
    draws += [f.step() for _ in range(slots - 1)]
    return np.stack(draws)  # (T, *shape)


def test_per_slot_gains_follow_the_old_exp1_law():
    # 3,600 draws per version, fixed seeds: deterministic, far from the thresholds
    new, old = block_gains(0).ravel(), old_block_gains(0).ravel()
    assert abs(new.mean() - 1.0) < 0.05 and abs(new.var() - 1.0) < 0.15  # Exp(1): mean = var = 1
    assert stats.kstest(new, "expon").statistic < 0.03  # ~1.36 / sqrt(3600) = 0.023 at 5 %
    assert stats.ks_2samp(new, old).statistic < 0.04  # the same law as |h|^2, h ~ CN(0, 1)


def test_slots_are_independent():
    g = block_gains(1, slots=20, shape=(2_000,))
    # 38,000 pairs: the sample correlation of independent slots has sd ~0.005
    assert abs(np.corrcoef(g[1:].ravel(), g[:-1].ravel())[0, 1]) < 0.03


def test_the_stream_is_numpys_exponential_stream():
    # the contract: slot t's gains are the generator's next prod(shape) Exp(1) draws
    rng = np.random.default_rng(7)
    expected = rng.standard_exponential((3, 5, 5))
    assert block_gains(7, slots=3, shape=(5, 5)).tobytes() == expected.tobytes()


def test_same_seed_same_bytes_other_seed_other_bytes():
    assert block_gains(3).tobytes() == block_gains(3).tobytes()
    assert block_gains(3).tobytes() != block_gains(4).tobytes()


def test_every_slot_is_a_new_array():
    f = BlockFading()
    first = f.reset(np.random.default_rng(0), (4, 4))
    kept = first.copy()
    f.step()
    np.testing.assert_array_equal(first, kept)  # the environment keeps slot 0's gains


def test_step_before_reset_is_refused():
    with pytest.raises(RuntimeError, match="reset"):
        BlockFading().step()


def test_only_block_fading_nodes_draw_exponentials():
    assert isinstance(node_fading(0.0), BlockFading)
    assert type(node_fading(0.5)) is FadingProcess and node_fading(-0.1).rho == -0.1


def node_gains(seed, slots=5):
    n = build_node(NodeSpec(num_links=6), "n0", seed=seed, slot_period_s=2.0)
    gains = [n.env.observe().true_state.gains.copy()]
    for _ in range(slots - 1):
        n.open_slot()
        n.close_slot()
        gains.append(n.env.observe().true_state.gains.copy())
    return n, np.stack(gains)  # (T, K, K)


def test_a_seeded_node_replays_its_gains_byte_for_byte():
    (a, ga), (_, gb), (_, gc) = node_gains(11), node_gains(11), node_gains(12)
    assert ga.tobytes() == gb.tobytes() and ga.tobytes() != gc.tobytes()
    large = a.env.topology.large_scale  # one topology for the run (episode_slots = 0)
    assert isinstance(a.env.fading, BlockFading) and np.all(ga / large > 0)
