"""Pre-training scales out with torchrun: two CPU processes (gloo) take a real step."""

import subprocess
import sys
from pathlib import Path

from rrm.models.gfm.store import load_backbone


def test_two_process_distributed_pretraining_writes_one_checkpoint(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "rrm", "gfm", "pretrain", "--entries", "D1", "--n-per-entry", "32",
           "--epochs", "1", "--batch-size", "8", "--layers", "1", "--dim", "16", "--heads",
           "2", "--threads", "1", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-3000:]
    backbone, meta = load_backbone(out)
    assert meta["world_size"] == 2 and backbone.cfg.dim == 16
    assert meta["history"][0]["loss_edge"] > 0
