"""Shared plumbing for the benchmark scripts: timing, peak memory, tables.

Two rules every script follows, because the machines these run on are shared
and noisy:

* timings of the configurations being compared are taken in ONE process,
  interleaved round-robin (a slow minute hits every configuration alike), and
  reported as medians; ratios are always between numbers of the same run;
* CPU peak memory is taken in a fresh child process per configuration
  (the RSS high-water mark only ever grows, so one process measuring several
  configurations would report the largest of them for all of them).
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Sequence

import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
MIB = float(1 << 20)

# Large tensors are then always mmapped and handed back on free, so a child's
# RSS follows what torch actually holds instead of glibc's heap high-water mark
# (the dynamic threshold would otherwise keep freed 30 MB blocks resident).
CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


def quiet_fairseq_logging() -> None:
    import logging

    for name in ("fairseq", "fairseq.tasks.text_to_speech", "fairseq.trainer", "fairseq.utils"):
        logging.getLogger(name).setLevel(logging.ERROR)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def round_robin(
    runners: Dict[str, Callable[[], None]],
    device: torch.device,
    warmup: int,
    rounds: int,
    per_round: int = 1,
    log: bool = True,
) -> Dict[str, List[float]]:
    """Seconds per call of every runner, interleaved so noise hits all alike.

    Each round runs every runner ``per_round`` times in a row (keeps caches as
    a training loop would see them) and the order of runners rotates from one
    round to the next, so no configuration always follows the same neighbour.
    """
    names = list(runners)
    for _ in range(warmup):
        for name in names:
            runners[name]()
    sync(device)
    times: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            for _ in range(per_round):
                sync(device)
                t0 = time.perf_counter()
                runners[name]()
                sync(device)
                times[name].append(time.perf_counter() - t0)
        if log:
            summary = " ".join(f"{n}={median(times[n]) * 1e3:.0f}ms" for n in names)
            print(f"  round {r + 1}/{rounds}: {summary}", file=sys.stderr, flush=True)
    return times


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """This process's RSS high-water mark.

    VmHWM, not ``getrusage().ru_maxrss``: Linux keeps ru_maxrss across
    fork+exec, so a child started from a big parent would report the
    parent's peak (every configuration then shows the same number).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_child(argv: List[str], timeout: float = 1800) -> dict:
    """Runs ``python argv...`` in a fresh process; its last stdout line is JSON."""
    env = dict(os.environ)
    env.update(CHILD_ENV)
    env.setdefault("PYTHONWARNINGS", "ignore")
    proc = subprocess.run(
        [sys.executable] + argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO_ROOT,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.splitlines()[-15:])
        raise RuntimeError(f"child {' '.join(argv)} failed (rc={proc.returncode}):\n{tail}")
    return json.loads(lines[-1])


def emit_child_result(result: dict) -> None:
    print(json.dumps(result), flush=True)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def fmt(value):
        if isinstance(value, float):
            if value != value:
                return "n/a"
            if abs(value) >= 100:
                return f"{value:.0f}"
            if abs(value) >= 10:
                return f"{value:.1f}"
            return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )


def start(args) -> torch.device:
    """Thread count and device, the same way in every benchmark."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return torch.device(args.device)
