"""How busy the machine was while a figure was measured: load average and other processes' CPU time.

A timing figure from a shared machine says as much about the other processes as about the file:
on the project's 2-core machine one thread's GEMM rate read 53.5 GMAC/s at load 2-7 and 123
quiet, and a 2-thread/1-thread ratio 3.04x on one run and 0.31x on the next. So every block of
timed calls is bracketed by two readings:

* the 1-minute load average (``os.getloadavg``) before and after;
* from ``/proc/stat`` (Linux), the share of the whole machine's CPU time over the block that
  went to *other* processes (busy jiffies minus this process's and its children's CPU time)
  and the share stolen by the hypervisor (``steal``).

The machine counts as busy when the load average exceeds the core count, or when others plus
steal took more than one core's worth of the machine: then a figure of the block is in doubt.
Where Linux does not expose ``/proc/stat`` the load average alone decides.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")


def cores() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Reading:
    """One instant: load average, /proc/stat's machine-wide jiffies (None off Linux), own CPU seconds."""

    wall: float
    load1: float | None
    busy_jiffies: int | None  # user + nice + system + irq + softirq, every CPU
    steal_jiffies: int | None
    total_jiffies: int | None  # every field but guest (already in user), every CPU
    own_cpu: float  # this process + its reaped children, user + system seconds


def _proc_stat(path: Path = PROC_STAT) -> tuple[int, int, int] | None:
    """(busy, steal, total) jiffies from the aggregate ``cpu`` line, or None where it cannot be read."""
    try:
        first = path.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu" or len(first) < 5:
        return None
    values = [int(v) for v in first[1:]] + [0] * 8
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def read(stat_path: Path = PROC_STAT) -> Reading:
    """The machine's load now."""
    try:
        load1: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):
        load1 = None
    stat = _proc_stat(stat_path)
    return Reading(wall=time.monotonic(), load1=load1, busy_jiffies=stat[0] if stat else None,
                   steal_jiffies=stat[1] if stat else None, total_jiffies=stat[2] if stat else None,
                   own_cpu=_own_cpu())


def _jiffies(r: Reading) -> tuple[int, int, int] | None:
    """(busy, steal, total) jiffies of a reading; None off Linux (the three are read together)."""
    if r.busy_jiffies is None or r.steal_jiffies is None or r.total_jiffies is None:
        return None
    return r.busy_jiffies, r.steal_jiffies, r.total_jiffies


def between(before: Reading, after: Reading, n_cores: int | None = None,
            clock_tick: int | None = None) -> dict[str, Any]:
    """What the machine did between two readings, and whether that makes it busy.

    Returns:
        ``load1_before``, ``load1_after``, ``cores``, ``others_share`` and ``steal_share`` (of the
        machine's CPU time over the interval; None without /proc/stat), ``seconds``, ``busy``
        (bool) and ``busy_reason`` (a phrase, or None).
    """
    n_cores = n_cores or cores()
    tick = clock_tick or os.sysconf("SC_CLK_TCK")
    others = steal = None
    j0, j1 = _jiffies(before), _jiffies(after)
    if j0 is not None and j1 is not None and j1[2] > j0[2]:
        total = j1[2] - j0[2]
        busy = (j1[0] - j0[0]) / tick
        own = after.own_cpu - before.own_cpu
        others = max(0.0, busy - own) * tick / total
        steal = (j1[1] - j0[1]) / total
    out: dict[str, Any] = {"load1_before": before.load1, "load1_after": after.load1, "cores": n_cores,
                           "others_share": others, "steal_share": steal, "seconds": after.wall - before.wall}
    out["busy_reason"] = busy_reason(out)
    out["busy"] = out["busy_reason"] is not None
    return out


def busy_reason(load: dict[str, Any]) -> str | None:
    """Why these load figures make the machine busy (load above the cores, or others + steal above
    one core's share of the machine), or None when it was quiet enough."""
    n = load.get("cores") or cores()
    loads = [v for v in (load.get("load1_before"), load.get("load1_after")) if v is not None]
    reasons = []
    if loads and max(loads) > n:
        reasons.append(f"load {max(loads):.1f} > {n} cores")
    taken = (load.get("others_share") or 0.0) + (load.get("steal_share") or 0.0)
    if load.get("others_share") is not None and taken > 1 / n:
        who = "other processes" + (" and steal" if load.get("steal_share") else "")
        reasons.append(f"{who} took {100 * taken:.0f} % of the CPU")
    return "; ".join(reasons) or None


def merge(loads: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary of several blocks' load figures (the worst of each), for a run's header."""
    loads = [x for x in loads if x]
    if not loads:
        return {}

    def worst(*keys: str) -> float | None:
        values = [x[k] for x in loads for k in keys if x.get(k) is not None]
        return max(values) if values else None

    out: dict[str, Any] = {"load1_before": loads[0].get("load1_before"), "load1_after": loads[-1].get("load1_after"),
                           "load1_max": worst("load1_before", "load1_after"), "cores": loads[0].get("cores"),
                           "others_share": worst("others_share"), "steal_share": worst("steal_share"),
                           "busy_blocks": sum(bool(x.get("busy")) for x in loads), "blocks": len(loads)}
    out["busy"] = out["busy_blocks"] > 0
    return out
