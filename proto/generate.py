"""Regenerate the Python code for the wire contract into ``rrm/core/wire/``.

Usage: ``python proto/generate.py [OUT_DIR]`` (default ``rrm/core/wire``).

protoc names generated modules after the proto path (``rrm/e2/v1/...``);
the generated gRPC module imports its messages by that path, which is not a
Python package here, so the import is rewritten to ``rrm.core.wire``. A test
regenerates into a temporary folder and fails on any difference.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent
PROTO = "rrm/e2/v1/e2.proto"
FILES = ("e2_pb2.py", "e2_pb2.pyi", "e2_pb2_grpc.py")


def generate(out_dir: Path) -> None:
    """Run protoc on the contract and write the three modules into ``out_dir``."""
    with tempfile.TemporaryDirectory() as tmp:
        include = str(Path(protoc.__file__).parent / "_proto")
        rc = protoc.main([
            "protoc", f"-I{ROOT}", f"-I{include}", f"--python_out={tmp}",
            f"--pyi_out={tmp}", f"--grpc_python_out={tmp}", str(ROOT / PROTO),
        ])
        if rc != 0:
            raise SystemExit(f"protoc failed with exit code {rc}")
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            text = (Path(tmp) / Path(PROTO).parent / name).read_text()
            text = text.replace("from rrm.e2.v1 import e2_pb2", "from rrm.core.wire import e2_pb2")
            (out_dir / name).write_text(text)


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "rrm" / "core" / "wire")
