"""How much CPU did *other* processes use while we were timing?

On a shared 2-core machine a test suite running beside the benchmark makes torch's
two intra-op threads wait for each other at every barrier, and timings jump by whole
scheduler slices (multiples of ~4-8 ms). Medians alone cannot tell that apart from slow
code, so each timing is taken inside a :class:`CpuMeter`, which reads /proc/stat (all CPU
time on the machine) and subtracts the CPU time of this process and of its children
(``resource.getrusage``).
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
QUIET_CORES = 0.25  # others using less than a quarter of one core: the timing is clean


def machine_cpu_seconds() -> float | None:
    """Busy CPU seconds of the whole machine since boot (all cores), or None off Linux."""
    if not PROC_STAT.exists():
        return None
    fields = PROC_STAT.read_text().splitlines()[0].split()[1:]  # "cpu  user nice system idle ..."
    jiffies = [int(x) for x in fields]
    idle, iowait = jiffies[3], jiffies[4]
    busy = sum(jiffies[:8]) - idle - iowait  # user..steal; guest time is already in user
    return busy / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds used by this process (all threads) and by its children that have ended,
    e.g. a notebook's kernel once nbclient has shut it down."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class CpuMeter:
    """A context manager: ``others_cores`` is the average number of cores that other
    processes kept busy during the block (0.0 = machine otherwise idle, nan = unknown)."""

    def __enter__(self) -> "CpuMeter":
        self._machine = machine_cpu_seconds()
        self._own = own_cpu_seconds()
        self._wall = time.perf_counter()
        self.others_cores = float("nan")
        return self

    def __exit__(self, *exc) -> None:
        end_machine = machine_cpu_seconds()
        if self._machine is None or end_machine is None:
            return
        wall = time.perf_counter() - self._wall
        others = (end_machine - self._machine) - (own_cpu_seconds() - self._own)
        self.others_cores = max(others, 0.0) / wall

    @property
    def quiet(self) -> bool:
        """True when the block ran on an otherwise quiet machine (or we cannot tell)."""
        return not self.others_cores > QUIET_CORES  # nan counts as quiet


def wait_for_quiet(max_wait_s: float, sample_s: float = 2.0) -> float:
    """Sleep until other processes use less than QUIET_CORES (sampled every ``sample_s``),
    for at most ``max_wait_s``. Returns the seconds waited."""
    waited = 0.0
    while waited < max_wait_s:
        with CpuMeter() as meter:
            time.sleep(sample_s)
        waited += sample_s
        if meter.quiet:
            break
    return waited
