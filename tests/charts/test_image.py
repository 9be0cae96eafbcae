"""The Dockerfile's logic, checked without building (CI builds no images; #19 items 12-14)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
RELOCATE = REPO / "docker" / "relocate_checkpoints.py"


def test_no_frontend_is_fetched_and_only_our_package_is_compiled() -> None:
    assert not re.search(r"^#\s*syntax=", DOCKERFILE, re.M | re.I)
    (compile_line,) = [ln for ln in DOCKERFILE.splitlines() if "compileall" in ln]
    assert compile_line.rstrip().endswith('/rrm"'), compile_line  # never the whole venv


def test_local_wheels_install_offline_and_the_torch_index_serves_torch_only() -> None:
    assert "COPY ${WHEELS}/ /wheels/" in DOCKERFILE
    offline = [ln for ln in DOCKERFILE.splitlines() if "--find-links /wheels" in ln]
    assert offline and all("--no-index" in ln for ln in offline)
    uses = [ln for ln in DOCKERFILE.splitlines() if "$TORCH_INDEX_URL" in ln]
    assert len(uses) == 1 and "torch==" in uses[0] and "/src" not in uses[0]


def _throwaway_install(tmp: Path) -> tuple[Path, Path]:
    """A venv whose site-packages holds a minimal installed ``rrm`` with one checkpoint."""
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site = Path(subprocess.check_output(
        [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    ckpt = site / "rrm" / "models" / "checkpoints" / "gfm-small-sum"
    ckpt.mkdir(parents=True)
    (site / "rrm" / "__init__.py").write_text("")
    (site / "rrm" / "models" / "__init__.py").write_text("")
    (ckpt / "model.safetensors").write_bytes(b"weights")
    return python, site


def test_relocation_links_the_installed_package_not_the_source_tree(tmp_path: Path) -> None:
    python, site = _throwaway_install(tmp_path)
    src = tmp_path / "src"  # the build's WORKDIR /src holds a source tree too
    (src / "rrm" / "models" / "checkpoints").mkdir(parents=True)
    (src / "rrm" / "__init__.py").write_text("")
    (src / "rrm" / "models" / "__init__.py").write_text("")
    target = tmp_path / "opt" / "rrm" / "checkpoints"
    env = {**os.environ, "PYTHONPATH": str(src)}  # -I must ignore it as well as the cwd
    subprocess.run([python, "-I", RELOCATE, target], cwd=src, env=env, check=True,
                   capture_output=True)
    link = site / "rrm" / "models" / "checkpoints"
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert (target / "gfm-small-sum" / "model.safetensors").read_bytes() == b"weights"
    assert (src / "rrm" / "models" / "checkpoints").is_dir()  # the source tree is untouched
    # a volume mounted on the target replaces what the package sees: an empty one, nothing
    (target / "gfm-small-sum" / "model.safetensors").unlink()
    (target / "gfm-small-sum").rmdir()
    assert list(link.iterdir()) == []


def test_relocation_refuses_a_source_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "rrm" / "models" / "checkpoints").mkdir(parents=True)
    (src / "rrm" / "__init__.py").write_text("")
    (src / "rrm" / "models" / "__init__.py").write_text("")
    run = subprocess.run([sys.executable, RELOCATE, tmp_path / "t"], cwd=src,
                         env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True,
                         text=True)
    assert run.returncode != 0 and "not an installed package" in run.stderr
    assert (src / "rrm" / "models" / "checkpoints").is_dir()
