"""Expert data sets (seeded, resumable, 5:1:2 split), ergodic metrics, and resumable training."""

import dataclasses

import numpy as np
import pytest
import torch

from rrm.core import physics
from rrm.core.errors import CheckpointError, InvalidInput
from rrm.models.diffusion.data import ExpertDataConfig, generate_expert_data, load_expert_data
from rrm.models.diffusion.evaluate import cumulative_rates, ergodic_rates_torch, metrics
from rrm.models.diffusion.expert import ExpertConfig
from rrm.models.diffusion.model import GraphDiffusion
from rrm.models.diffusion.train import TrainConfig, train
from rrm.models.diffusion.ugnn import UGNN, UGNNConfig

TINY = ExpertDataConfig(num_pairs=4, networks_per_density=8, seed=1,
                        expert=ExpertConfig(iterations=20, window=10, samples=5))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    generate_expert_data(TINY, d)
    return d


def test_generator_writes_one_file_per_density_and_is_resumable(data_dir):
    paths = sorted(data_dir.glob("density-*.npz"))
    assert len(paths) == 4
    stamps = [p.stat().st_mtime_ns for p in paths]
    calls = []
    generate_expert_data(TINY, data_dir, lambda i, it: calls.append(i))
    assert [p.stat().st_mtime_ns for p in paths] == stamps and calls == []  # nothing redone
    z = np.load(paths[0])
    assert z["samples"].shape == (8 * 5, 5, 4) and z["duals"].shape == (5, 10, 4)
    assert np.all((z["samples"] >= 0) & (z["samples"] <= 1))


def test_generator_is_seeded(data_dir, tmp_path):
    generate_expert_data(TINY, tmp_path)
    for name in ("density-0.npz", "density-3.npz"):
        a, b = np.load(data_dir / name), np.load(tmp_path / name)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_compact_parts_load_as_the_full_files_within_quantisation(data_dir, tmp_path):
    generate_expert_data(dataclasses.replace(TINY, compact=True), tmp_path / "part-0")
    z = np.load(tmp_path / "part-0" / "density-2.npz")
    assert "large_scale" not in z.files and z["samples_u8"].dtype == np.uint8
    for split in ("train", "test"):
        full, small = load_expert_data(data_dir, split), load_expert_data(tmp_path, split)
        np.testing.assert_array_equal(small.large_scale, full.large_scale)  # from the seed
        np.testing.assert_array_equal(small.f_min, full.f_min)
        np.testing.assert_allclose(small.samples, full.samples, atol=0.5 / 255 + 1e-12)


def test_split_is_5_1_2_by_network_with_every_f_min_level(data_dir):
    sets = {s: load_expert_data(data_dir, s) for s in ("train", "val", "test")}
    assert [len(sets[s]) for s in ("train", "val", "test")] == [4 * 5 * 5, 4 * 5, 4 * 2 * 5]
    train_nets = {x.tobytes() for x in sets["train"].large_scale}
    assert not train_nets & {x.tobytes() for x in sets["test"].large_scale}
    assert sorted(set(sets["test"].f_min)) == [0.4, 0.5, 0.6, 0.7, 0.8]
    with pytest.raises(InvalidInput):
        load_expert_data(data_dir, "holdout")


def test_metrics_closed_forms():
    r = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 2.0, 0.0, 2.0]])
    m = metrics(r, np.array([1.0, 1.0]))
    assert m.mean == pytest.approx(1.0) and m.feasibility == pytest.approx(6 / 8)
    assert m.jain == pytest.approx((1.0 + 0.5) / 2)  # equal rates: 1; half the users at 0: 1/2
    assert m.p1 == pytest.approx(0.0)


def test_single_candidate_time_sharing_is_the_mean_rate_over_fading():
    g = np.abs(np.random.default_rng(0).normal(size=(2, 3, 3))) + np.eye(3) * 3
    shares = np.full((2, 1, 3), 0.5)
    cum = cumulative_rates(g, shares, 0.1, 2.0, 60, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    per_slot = []
    for lo in range(0, 60, 50):
        t = min(50, 60 - lo)
        rng.integers(0, 1, size=(t, 2))
        fading = rng.exponential(size=(t, 2, 3, 3))
        per_slot.append(physics.rates(g[None] * fading, np.ones((t, 2, 3)), 0.1))
    np.testing.assert_allclose(cum[-1], np.concatenate(per_slot).mean(0), rtol=1e-12)
    np.testing.assert_allclose(cum[0], np.concatenate(per_slot)[0], rtol=1e-12)


def _model():
    torch.manual_seed(0)
    return GraphDiffusion(UGNN(UGNNConfig(channels=8, embed_dim=16)))


def test_resumed_training_equals_an_uninterrupted_run(data_dir, tmp_path):
    data = load_expert_data(data_dir, "train")
    cfg = TrainConfig(steps=6, batch_size=8, lr=1e-3, val_every=100, save_every=3)
    straight = _model()
    train(straight, data, None, cfg)

    def crash(step, row):
        if step == 4:
            raise KeyboardInterrupt

    resumed = _model()
    with pytest.raises(KeyboardInterrupt):
        train(resumed, data, None, cfg, tmp_path / "resume", crash)
    resumed = GraphDiffusion(UGNN(UGNNConfig(channels=8, embed_dim=16)))  # fresh weights
    train(resumed, data, None, cfg, tmp_path / "resume")
    for (name, a), b in zip(straight.denoiser.state_dict().items(),
                            resumed.denoiser.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_training_lowers_the_ddpm_loss(data_dir):
    data = load_expert_data(data_dir, "train")
    history = train(_model(), data, load_expert_data(data_dir, "val"),
                    TrainConfig(steps=60, batch_size=32, lr=3e-3, val_every=30, val_instances=2,
                                val_samples=2, val_slots=5))
    assert history[-1]["loss"] < history[0]["loss"] < 1.5
    assert {"ugnn_p5", "expert_p5", "ugnn_feasibility"} <= set(history[-1])


def test_torch_time_sharing_matches_numpy_in_distribution():
    g = np.abs(np.random.default_rng(0).normal(size=(2, 3, 3))) + np.eye(3) * 3
    shares = np.random.default_rng(1).uniform(size=(2, 4, 3))
    reference = cumulative_rates(g, shares, 0.1, 2.0, 4000, np.random.default_rng(2))[-1]
    gen = torch.Generator().manual_seed(3)
    r = ergodic_rates_torch(torch.as_tensor(g), torch.as_tensor(shares), 0.1, 2.0, 4000, gen,
                            chunk_elements=50)  # several slot blocks
    np.testing.assert_allclose(r.double().numpy(), reference, rtol=0.05)


def test_time_limited_training_stops_saves_and_goes_on(data_dir, tmp_path):
    data = load_expert_data(data_dir, "train")
    cfg = TrainConfig(steps=3, batch_size=8, lr=1e-3, val_every=100, save_every=100)
    straight = _model()
    train(straight, data, None, cfg)
    limited = _model()
    first = train(limited, data, None, cfg, tmp_path / "resume", time_limit_s=0.0)
    assert first == [{"step": 1, "loss": first[0]["loss"], "stopped": 1}]
    for _ in range(2):  # each call: one step past the (zero) limit, saved
        history = train(_model(), data, None, cfg, tmp_path / "resume", time_limit_s=0.0)
    assert [row["step"] for row in history] == [1, 2, 3]
    resumed = _model()
    train(resumed, data, None, cfg, tmp_path / "resume")  # done: nothing left to run
    for a, b in zip(straight.denoiser.state_dict().values(),
                    resumed.denoiser.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_resumed_run_may_change_its_length_and_intervals_but_not_its_draws(data_dir, tmp_path):
    data = load_expert_data(data_dir, "train")
    cfg = TrainConfig(steps=4, batch_size=8, lr=1e-3, val_every=100, save_every=100)
    straight = _model()
    train(straight, data, None, cfg)
    train(_model(), data, None, dataclasses.replace(cfg, steps=2), tmp_path / "resume")
    longer = dataclasses.replace(cfg, steps=4, val_every=1, save_every=1)
    resumed = _model()
    history = train(resumed, data, None, longer, tmp_path / "resume")
    assert [row["step"] for row in history] == [2, 3, 4]
    for a, b in zip(straight.denoiser.state_dict().values(),
                    resumed.denoiser.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(CheckpointError, match="another training config"):
        train(_model(), data, None, dataclasses.replace(cfg, lr=2e-3), tmp_path / "resume")
