"""Finding what a killed control plane left running: by pidfile and command line, never a stranger."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from control_plane import procs
from control_plane.local_state import leftover_pids, stop_leftovers
from control_plane.settings import load_settings

pytestmark = pytest.mark.component


def test_only_processes_matching_their_pidfile_are_stopped(tmp_path: Path) -> None:
    settings = load_settings({}, state_dir=tmp_path)
    (tmp_path / "run").mkdir()
    ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "fleet.loadgen"],
                            start_new_session=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        (tmp_path / "run" / "loadgen.pid").write_text(str(ours.pid))
        (tmp_path / "run" / "collectors.pid").write_text(str(stranger.pid))  # a reused pid
        assert leftover_pids(settings) == [ours.pid]
        assert stop_leftovers(settings) == [ours.pid]
        ours.wait(timeout=10)
        assert stranger.poll() is None and not procs.pid_alive(ours.pid)
    finally:
        for p in (ours, stranger):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
