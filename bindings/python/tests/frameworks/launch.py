"""Launches N ranks of a job script as local processes, the way torchrun does (``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` in each one's environment)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Dict, List, Optional, Sequence


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(script: str, args: Sequence[str], world: int, *, timeout_s: float = 600,
           env: Optional[Dict[str, str]] = None) -> List[subprocess.CompletedProcess]:
    """Runs ``script args`` as ranks 0..``world``-1 and waits for all of them; ``env`` is added
    to each one's environment ("{rank}" in a value replaced by the rank)."""
    port = str(free_port())
    procs = []
    for rank in range(world):
        # A value with "{rank}" is this rank's (a log file per rank...).
        mine = {k: v.replace("{rank}", str(rank)) for k, v in (env or {}).items()}
        e = {**os.environ, **mine, "RANK": str(rank), "LOCAL_RANK": str(rank),
             "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world),
             "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        procs.append(subprocess.Popen([sys.executable, script, *args], env=e,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    done = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=timeout_s)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, ""))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return done


if __name__ == "__main__":
    world = int(sys.argv[1])
    results = launch(sys.argv[2], sys.argv[3:], world)
    for r in results:
        print(r.stdout[-3000:])
    sys.exit(max(r.returncode for r in results))
