"""The ``rootline`` command run as a user runs it: a child process, plain output, its own data
folder, and none of the caller's database or webhook settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def rootline_env(folder: Path, embedder: str | None = "hashing") -> dict[str, str]:
    """The environment of a ``rootline`` child: ``folder`` as its data folder, plain output,
    no model download, and none of the caller's database or webhook settings."""
    env = {
        **os.environ,
        "ROOTLINE_DATA_DIR": str(folder),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "HF_HUB_OFFLINE": "1",
    }
    for key in ("ROOTLINE_DATABASE_URL", "ROOTLINE_EMBEDDER", "ROOTLINE_WEBHOOK_URL"):
        env.pop(key, None)
    if embedder:
        env["ROOTLINE_EMBEDDER"] = embedder
    return env


def run_rootline(
    *args: str,
    db: str,
    folder: Path,
    embedder: str | None = "hashing",
    check: bool = True,
    timeout: int = 300,
) -> subprocess.CompletedProcess[str]:
    """``python -m rootline --db DB ARGS`` in ``folder``; raises on a non-zero exit when
    ``check``. ``embedder`` None keeps the default (the real model, offline)."""
    env = rootline_env(folder, embedder)
    proc = subprocess.run(
        [sys.executable, "-m", "rootline", "--db", db, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc
