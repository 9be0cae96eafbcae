"""Streamed pre-training: determinism over workers, resume, device, fused pieces, bare imports."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

from rrm.core.errors import InvalidInput
from rrm.models.gfm.backbone import BackboneConfig
from rrm.models.gfm.device import resolve_device
from rrm.models.gfm.pretrain import (
    EdgeDecoder,
    HybridPretrainer,
    PretrainConfig,
    masked_edge_loss,
)
from rrm.models.gfm.stream import CorpusStream, epoch_loader
from rrm.models.gfm.stream_train import StreamSettings, pretrain_stream
from rrm.sim.scenarios.corpus import CorpusSpec

TINY = BackboneConfig(layers=1, dim=8, heads=2, bias_hidden=4, edge_value_dim=2)
SPEC = CorpusSpec.parse("rayleigh-ic,gaussian-ic,itu1411-d2d", (3, 6))
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _epoch(workers: int, seed: int = 0, epoch: int = 0) -> list[torch.Tensor]:
    stream = CorpusStream(SPEC, 4, 7, seed, epoch)
    return [b.gains for b in epoch_loader(stream, workers)]


def test_same_seed_gives_the_same_batches_for_any_worker_count() -> None:
    alone = _epoch(0)
    assert len(alone) == 7
    for workers in (1, 2, 3):
        batches = _epoch(workers)
        assert len(batches) == 7
        for a, b in zip(alone, batches, strict=True):
            assert torch.equal(a, b)


def test_epochs_and_seeds_draw_other_batches() -> None:
    first = _epoch(0)
    assert not any(torch.equal(a, b) for a, b in zip(first, _epoch(0, epoch=1), strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(first, _epoch(0, seed=1), strict=True))


def test_ranks_split_one_epoch_without_overlap() -> None:
    whole = [b.gains for b in CorpusStream(SPEC, 4, 7, 0, 0)]
    ranks = [list(CorpusStream(SPEC, 4, 7, 0, 0, rank=r, world=2)) for r in (0, 1)]
    assert [torch.equal(b.gains, whole[2 * i]) for i, b in enumerate(ranks[0])] == [True] * 4
    assert [torch.equal(b.gains, whole[2 * i + 1]) for i, b in enumerate(ranks[1])] == [True] * 3


def _model(seed: int) -> HybridPretrainer:
    torch.manual_seed(seed)
    return HybridPretrainer(TINY, PretrainConfig(lr_patience=0))


RUN = StreamSettings(epochs=2, steps_per_epoch=3, batch_size=4, lr=1e-3, seed=5)


def _rows(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k not in ("seconds", "snapshots_per_s")}
            for r in history]


def test_streamed_run_resumed_equals_an_uninterrupted_one_for_any_worker_count(tmp_path
                                                                               ) -> None:
    cpu = torch.device("cpu")
    straight = _model(0)
    full = pretrain_stream(straight, SPEC, RUN, cpu, resume_dir=tmp_path / "a")
    first = _model(0)
    part = pretrain_stream(first, SPEC, RUN, cpu, resume_dir=tmp_path / "b", time_limit_s=0)
    assert len(part) == 1
    resumed = _model(9)
    rest = pretrain_stream(resumed, SPEC, StreamSettings(**{**RUN.__dict__, "workers": 2}),
                           cpu, resume_dir=tmp_path / "b")
    assert _rows(rest) == _rows(full)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name


def test_factorised_edge_decoder_equals_the_concatenated_form() -> None:
    torch.manual_seed(0)
    dec, z = EdgeDecoder(8), torch.randn(3, 5, 8)
    edges = torch.tensor([[0, 1, 2], [2, 4, 0], [1, 3, 3]])
    zk, zj = z[edges[:, 0], edges[:, 1]], z[edges[:, 0], edges[:, 2]]
    direct = dec.net(torch.cat([zk, zj, zk * zj], dim=-1))
    torch.testing.assert_close(dec(z, edges), direct, rtol=1e-5, atol=1e-6)
    dense = dec.dense(z)  # (B, K, K, 2)
    torch.testing.assert_close(dense[edges[:, 0], edges[:, 1], edges[:, 2]], direct,
                               rtol=1e-5, atol=1e-6)


def test_masked_edge_loss_is_the_mse_over_masked_edges_only() -> None:
    torch.manual_seed(1)
    dec, z, target = EdgeDecoder(8), torch.randn(2, 4, 8), torch.randn(2, 4, 4, 2)
    masked = torch.rand(2, 4, 4) < 0.4
    full = dec.dense(z)
    expected = F.mse_loss(full[masked], target[masked])
    torch.testing.assert_close(masked_edge_loss(dec, z, target, masked), expected)


def test_ema_update_is_the_published_rule() -> None:
    model = _model(0)
    for p in model.backbone.parameters():
        p.data.add_(1.0)
    teacher = copy.deepcopy(model.teacher_backbone.state_dict())
    model.update_teacher()
    tau = model.cfg.ema_decay
    for name, value in model.teacher_backbone.state_dict().items():
        student = model.backbone.state_dict()[name]
        torch.testing.assert_close(value, tau * teacher[name] + (1 - tau) * student)


def test_auto_device_is_cuda_exactly_when_available() -> None:
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(InvalidInput, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_is_a_one_line_error() -> None:
    with pytest.raises(InvalidInput, match="no CUDA device"):
        resolve_device("cuda")


@CUDA
def test_streamed_step_on_cuda_in_bf16_is_finite_and_stays_on_the_gpu() -> None:
    model = _model(0)
    history = pretrain_stream(model, SPEC, RUN, torch.device("cuda"))
    assert all(torch.isfinite(torch.tensor([r["loss_edge"], r["loss_cl"]])).all()
               for r in history)
    assert all(p.is_cuda for p in model.parameters())


@CUDA
def test_dense_masked_loss_on_cuda_equals_the_gathered_one_on_cpu() -> None:
    torch.manual_seed(2)
    dec, z, target = EdgeDecoder(8), torch.randn(2, 6, 8), torch.randn(2, 6, 6, 2)
    masked = torch.rand(2, 6, 6) < 0.3
    cpu = masked_edge_loss(dec, z, target, masked)
    gpu = masked_edge_loss(dec.cuda(), z.cuda(), target.cuda(), masked.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)


BARE = textwrap.dedent("""
    import sys
    BLOCKED = {"structlog", "zmq", "grpc", "cvxpy"}
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked: {name}")
    sys.meta_path.insert(0, Block())
    import torch
    from rrm.models.gfm.backbone import BackboneConfig
    from rrm.models.gfm.pretrain import HybridPretrainer, PretrainConfig
    from rrm.models.gfm.stream_train import StreamSettings, pretrain_stream
    from rrm.sim.scenarios.corpus import CorpusSpec
    model = HybridPretrainer(BackboneConfig(layers=1, dim=8, heads=2), PretrainConfig())
    rows = pretrain_stream(model, CorpusSpec(k_range=(3, 5)),
                           StreamSettings(epochs=1, steps_per_epoch=1, batch_size=2),
                           torch.device("cpu"))
    assert rows[0]["steps"] == 1
    assert not BLOCKED & {m.split(".")[0] for m in sys.modules}
    print("bare-ok")
""")


def test_training_path_runs_without_structlog_zmq_grpc_cvxpy() -> None:
    out = subprocess.run([sys.executable, "-c", BARE], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "bare-ok" in out.stdout
