"""What the tools' tests share."""

from __future__ import annotations

import os
import subprocess
import sys

from shared.config import ROOT


def run_quick(module: str) -> str:
    """Run `python -m <module> --quick --db sqlite`; assert it succeeded; return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--quick", "--db", "sqlite"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output
