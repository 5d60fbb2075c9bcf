"""Describe the machine a benchmark ran on, so that every figure in docs/benchmarks.md
can be read against the hardware and software that produced it."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class Machine:
    """What docs/benchmarks.md states about where and how it was measured."""

    date: str  # local date and time the run started, ISO format
    cpu_model: str  # "model name" from /proc/cpuinfo (or platform.processor())
    cpu_cores: int  # logical cores this process may use
    torch_threads: int  # torch.get_num_threads(): the intra-op threads the timings use
    memory_gib: float  # total RAM from /proc/meminfo, 0.0 when unknown
    python: str  # Python version
    torch_version: str  # torch.__version__
    os_name: str  # kernel and architecture
    cuda_device: str  # GPU name, or "" when torch sees no CUDA device
    load_at_start: str  # 1-, 5- and 15-minute load averages when the run began


def cpu_model() -> str:
    """The CPU's marketing name, read from /proc/cpuinfo on Linux."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_cores() -> int:
    """Logical cores available to this process (respects taskset / container limits)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def memory_gib() -> float:
    """Total RAM in GiB from /proc/meminfo; 0.0 where that file does not exist."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return 0.0
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            kib = int(line.split()[1])
            return kib / 2**20
    return 0.0


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, e.g. '0.52 / 0.31 / 0.20' ('n/a' on Windows).

    On a 2-core machine a load near 2 means another job competed with the benchmark."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def describe_machine() -> Machine:
    """Collect the facts about this machine now."""
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return Machine(
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        cpu_model=cpu_model(),
        cpu_cores=cpu_cores(),
        torch_threads=torch.get_num_threads(),
        memory_gib=memory_gib(),
        python=platform.python_version(),
        torch_version=torch.__version__,
        os_name=f"{platform.system()} {platform.release()} ({platform.machine()})",
        cuda_device=cuda,
        load_at_start=load_average(),
    )


def exact_command(repo_root: Path) -> str:
    """The command line that started this process, with paths inside the repository made
    relative to its root, e.g. ``.venv/bin/python benchmarks/run.py --quick``."""

    def shorten(arg: str) -> str:
        path = Path(arg)
        if path.is_absolute():
            try:
                return str(path.relative_to(repo_root))
            except ValueError:
                return arg
        return arg

    script = shorten(os.path.abspath(sys.argv[0]))
    return shlex.join([shorten(sys.executable), script, *sys.argv[1:]])


def machine_markdown(machine: Machine, command: str, load_at_end: str) -> str:
    """The 'Machine' section of docs/benchmarks.md."""
    gpu = machine.cuda_device or "none (torch.cuda.is_available() is False)"
    lines = [
        "## Machine",
        "",
        f"- Date: {machine.date}",
        f"- CPU: {machine.cpu_model}, {machine.cpu_cores} logical cores, {machine.memory_gib:.1f} GiB RAM",
        f"- torch threads: {machine.torch_threads} (`torch.get_num_threads()`; the notebooks "
        "use it, attention is timed with it and with 1 thread)",
        f"- GPU: {gpu}",
        f"- Load average (1 / 5 / 15 min): {machine.load_at_start} at the start, "
        f"{load_at_end} at the end (other processes share these cores)",
        f"- Software: Python {machine.python}, torch {machine.torch_version}, {machine.os_name}",
        f"- Command (run from the repository root): `{command}`",
        "",
    ]
    return "\n".join(lines)
