"""Helpers shared by the benchmark scripts: run a step in a fresh process, time it and record
its peak memory, and write results as JSON next to the scripts."""

from __future__ import annotations

import contextlib
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).parent / "results"


def run_measured(args: list[str]) -> dict:
    """Run a command to completion; wall seconds and the child's peak RSS in MiB.

    Each measurement runs in its own process so peak memory is that step's alone.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"benchmark step failed: {' '.join(args)}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(max(peak_kib, before) / 1024, 1),
        "stdout": proc.stdout,
    }


def machine() -> dict:
    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2))
    return path


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def _tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants (a Spark run's JVM included)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_sampled(args: list[str], env: dict | None = None, spill_dir: Path | None = None) -> dict:
    """Run a command, sampling the resident memory of its whole process tree every 0.2 s.

    ``ru_maxrss`` sees one process at a time, so it misses a Spark driver's JVM sitting beside
    the Python process; the sum over the tree does not. With ``spill_dir``, the largest size
    that folder reached (DuckDB spilling to disk) is recorded too. Returns seconds, the peak,
    the samples as (epoch seconds, MiB) and stdout.
    """
    import os
    import threading

    samples: list[tuple[float, float]] = []
    spill_peak = 0
    done = threading.Event()
    started = time.perf_counter()
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    watched = psutil.Process(proc.pid)

    def sample() -> None:
        nonlocal spill_peak
        tick = 0
        while not done.wait(0.2):
            with contextlib.suppress(psutil.Error):
                samples.append((time.time(), _tree_rss(watched) / 2**20))
            tick += 1
            if spill_dir is not None and tick % 5 == 0 and spill_dir.exists():
                # A spill file can vanish while being counted.
                with contextlib.suppress(OSError):
                    spill_peak = max(spill_peak, dir_size(spill_dir))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    stdout, stderr = proc.communicate()
    done.set()
    thread.join()
    seconds = time.perf_counter() - started
    return {
        "ok": proc.returncode == 0,
        "returncode": proc.returncode,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(max((m for _, m in samples), default=0.0), 1),
        "spill_peak_mib": round(spill_peak / 2**20, 1),
        "samples": samples,
        "stdout": stdout,
        "stderr_tail": stderr[-3000:],
    }


def peak_between(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """The largest sample taken in [start, end] (epoch seconds), in MiB; for a phase shorter
    than the sampling interval, the sample nearest to it."""
    inside = [m for t, m in samples if start <= t <= end]
    if not inside and samples:
        inside = [min(samples, key=lambda s: min(abs(s[0] - start), abs(s[0] - end)))[1]]
    return round(max(inside, default=0.0), 1)
