"""Course attention vs PyTorch's fused kernel.

Times ``course_lib.attention.scaled_dot_product_attention(q, k, v, mask)`` against
``torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)`` with
``torch.utils.benchmark.Timer`` on several (B, h, T, d) shapes, without a mask and with a
boolean causal mask. DESIGN §9's target: the course version within 2× of SDPA.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from contention import QUIET_CORES, CpuMeter, wait_for_quiet
from torch.utils.benchmark import Measurement, Timer

from course_lib.attention import causal_mask, scaled_dot_product_attention

TARGET_RATIO = 2.0  # DESIGN §9: course attention within 2x of F.scaled_dot_product_attention
AGREE_ATOL = 1e-4  # float32 outputs of the two functions must match this closely
NOISY_IQR = 0.25  # a row is flagged when a timing's IQR exceeds this fraction of its median
RETRY_PAUSE_S = 3.0  # wait before measuring a row again that other processes disturbed

# (B, h, T, d): batch, heads, sequence length, head dim.
SHAPES: list[tuple[int, int, int, int]] = [
    (8, 4, 64, 32),
    (8, 8, 128, 64),
    (4, 8, 256, 64),
    (2, 8, 512, 64),
]
MASKS = ("none", "causal")


@dataclass
class TimingPlan:
    """How long and how often to time each (shape, mask) row."""

    min_run_time: float  # seconds of timing per implementation, split over the rounds
    rounds: int  # alternating course / SDPA rounds, merged with Measurement.merge
    attempts: int  # measurements of a row at most, when other processes disturb it
    wait_s: float  # before a table, wait at most this long for other processes to go quiet


@dataclass
class AttentionRow:
    """One line of the attention table: a shape, a mask, and both medians."""

    device: str  # "cpu" or "cuda"
    threads: int  # torch intra-op threads inside the Timer
    shape: tuple[int, int, int, int]  # (B, h, T, d)
    mask: str  # "none" or "causal"
    course_us: float  # median µs per call of the course's function
    sdpa_us: float  # median µs per call of F.scaled_dot_product_attention
    max_abs_diff: float  # largest |course - SDPA| over the output, a sanity check
    noisy: bool = False  # either timing's IQR / median > NOISY_IQR: read the ratio with care
    others_cores: float = math.nan  # cores other processes kept busy meanwhile (nan: unknown)
    attempts: int = 1  # measurements taken; more than 1 when the machine was busy

    @property
    def disturbed(self) -> bool:
        """Other processes used more than QUIET_CORES of CPU during the kept measurement."""
        return self.others_cores > QUIET_CORES

    @property
    def ratio(self) -> float:
        """course / SDPA: 1.0 means as fast, 2.0 means twice as slow."""
        return self.course_us / self.sdpa_us

    @property
    def meets_target(self) -> bool:
        return self.ratio <= TARGET_RATIO


def make_inputs(shape: tuple[int, int, int, int], mask_kind: str, device: torch.device):
    """Random q, k, v of shape (B, h, T, d) on ``device`` and the mask (None or bool (T, T))."""
    B, h, T, d = shape
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, h, T, d, generator=gen).to(device) for _ in range(3))  # (B, h, T, d)
    mask: Optional[torch.Tensor] = None
    if mask_kind == "causal":
        mask = causal_mask(T, device=device)  # (T, T), True where query i may see key j
    return q, k, v, mask


def interleaved(stmts: list[str], inputs: dict, plan: TimingPlan, threads: int) -> list[Measurement]:
    """Time each of ``stmts`` with torch.utils.benchmark.Timer, alternating between them for
    ``plan.rounds`` rounds, and merge each statement's rounds into one Measurement.

    Alternating means that a burst of load from another process on this shared machine
    slows both implementations alike instead of only the one being timed at that moment.
    """
    timers = [Timer(stmt=stmt, globals=inputs, num_threads=threads) for stmt in stmts]
    per_round = plan.min_run_time / plan.rounds
    measured: list[list[Measurement]] = [[] for _ in stmts]
    for _ in range(plan.rounds):
        for timer, runs in zip(timers, measured):
            runs.append(timer.blocked_autorange(min_run_time=per_round))
    return [Measurement.merge(runs)[0] for runs in measured]


def is_noisy(m: Measurement) -> bool:
    """True when the spread between runs is large: IQR above NOISY_IQR of the median."""
    return m.iqr / m.median > NOISY_IQR


def bench_one(shape, mask_kind: str, device: torch.device, plan: TimingPlan, threads: int) -> AttentionRow:
    """Time both implementations on one (shape, mask) pair, after checking they agree.

    When other processes kept the CPU busy during a measurement it is taken again, up to
    ``plan.attempts`` times in all, and the least disturbed measurement is kept.
    """
    q, k, v, mask = make_inputs(shape, mask_kind, device)
    inputs = {
        "course": scaled_dot_product_attention,
        "sdpa": F.scaled_dot_product_attention,
        "q": q,
        "k": k,
        "v": v,
        "mask": mask,
    }
    stmts = ["course(q, k, v, mask)", "sdpa(q, k, v, attn_mask=mask)"]
    with torch.no_grad():
        diff = (
            (scaled_dot_product_attention(q, k, v, mask) - F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
            .abs()
            .max()
            .item()
        )
        best: Optional[AttentionRow] = None
        for attempt in range(1, plan.attempts + 1):
            with CpuMeter() as meter:
                course, sdpa = interleaved(stmts, inputs, plan, threads)
            row = AttentionRow(
                device.type,
                threads,
                shape,
                mask_kind,
                course.median * 1e6,
                sdpa.median * 1e6,
                diff,
                noisy=is_noisy(course) or is_noisy(sdpa),
                others_cores=meter.others_cores,
            )
            if best is None or row.others_cores < best.others_cores:
                best = row
            if meter.quiet or attempt == plan.attempts:
                break
            time.sleep(RETRY_PAUSE_S)  # give the other job a moment to finish
    best.attempts = attempt
    return best


def run_attention(device: torch.device, plan: TimingPlan, threads: int, log=print) -> list[AttentionRow]:
    """Every shape × mask on ``device`` with ``threads`` torch threads, one row each.
    Waits first (up to plan.wait_s) for other processes to leave the CPU alone."""
    waited = wait_for_quiet(plan.wait_s)
    log(f"  waited {waited:.0f} s for a quiet machine")
    rows = []
    for shape in SHAPES:
        for mask_kind in MASKS:
            row = bench_one(shape, mask_kind, device, plan, threads)
            log(
                f"  attention {device.type} {threads} thread(s) {shape} mask={mask_kind}: "
                f"course {row.course_us:.0f} µs, "
                f"SDPA {row.sdpa_us:.0f} µs, ratio {row.ratio:.2f}, others' CPU "
                f"{row.others_cores:.2f} cores, {row.attempts} attempt(s)"
            )
            rows.append(row)
    return rows


def attention_table(rows: list[AttentionRow]) -> str:
    """A markdown table of the rows, one per (shape, mask)."""
    lines = [
        "| (B, h, T, d) | mask | course (µs) | SDPA (µs) | course / SDPA | within 2×? | others' CPU (cores) |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        verdict = "yes" if r.meets_target else "**no**"
        flags = (" †" if r.noisy else "") + (" ‡" if r.disturbed else "")
        lines.append(
            f"| {r.shape} | {r.mask} | {r.course_us:,.0f} | {r.sdpa_us:,.0f} | "
            f"{r.ratio:.2f}{flags} | {verdict} | {r.others_cores:.2f} |"
        )
    return "\n".join(lines)


def attention_summary(rows: list[AttentionRow]) -> str:
    """One paragraph: the ratio range, how many rows meet the target, agreement, caveats."""
    ratios = [r.ratio for r in rows]
    met = sum(r.meets_target for r in rows)
    worst_diff = max(r.max_abs_diff for r in rows)
    agreement = "agree" if worst_diff <= AGREE_ATOL else "**DISAGREE** (check the course code)"
    text = (
        f"Ratio course / SDPA from {min(ratios):.2f} to {max(ratios):.2f}; "
        f"{met} of {len(rows)} rows meet the target (≤ {TARGET_RATIO:g}×). "
        f"Outputs {agreement}: largest |course − SDPA| = {worst_diff:.1e} "
        f"(tolerance {AGREE_ATOL:g})."
    )
    noisy = sum(r.noisy for r in rows)
    if noisy:
        text += f" † {noisy} row(s) with a wide spread between runs (IQR > {NOISY_IQR:.0%} of the median)."
    disturbed = sum(r.disturbed for r in rows)
    if disturbed:
        text += (
            f" ‡ {disturbed} row(s) measured while other processes kept more than "
            f"{QUIET_CORES:g} of a core busy, even after retries: those timings are "
            "distorted (torch's threads wait for each other when another process holds "
            "a core); rerun on a quiet machine before trusting them."
        )
    return text


def attention_markdown(
    cpu_tables: dict[int, list[AttentionRow]], cuda_rows: Optional[list[AttentionRow]], plan: TimingPlan
) -> str:
    """The attention section of docs/benchmarks.md: a CPU table per thread count (the first
    one is torch.get_num_threads()), then the CUDA table or why there is none."""
    parts = [
        "## 1. Course attention vs PyTorch SDPA",
        "",
        "`course_lib.attention.scaled_dot_product_attention(q, k, v, mask)` against "
        "`torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)`, "
        "float32, q, k, v of shape (B, h, T, d), mask either none or the boolean "
        "`course_lib.attention.causal_mask(T)`, under `torch.no_grad()`. Median µs per call "
        "from `torch.utils.benchmark.Timer.blocked_autorange`: "
        f"{plan.min_run_time:g} s per implementation, split over {plan.rounds} rounds that "
        "alternate course and SDPA, merged with `Measurement.merge`. "
        "*Others' CPU* is the CPU other processes used meanwhile (from /proc/stat); a row "
        f"above {QUIET_CORES:g} core is measured again, up to {plan.attempts} time(s) in all, "
        f"keeping the quietest; before each table the run waits up to {plan.wait_s:g} s "
        "for the machine to go quiet.",
        "",
        f"**Target (DESIGN §9):** the course version within {TARGET_RATIO:g}× of SDPA, i.e. course / SDPA ≤ 2.",
        "",
    ]
    for i, (threads, rows) in enumerate(cpu_tables.items()):
        origin = " = `torch.get_num_threads()`" if i == 0 else " (less sensitive to other processes on the machine)"
        parts += [
            f"### CPU, {threads} thread{'s' if threads > 1 else ''}{origin}",
            "",
            attention_table(rows),
            "",
            attention_summary(rows),
            "",
        ]
    parts += ["### CUDA", ""]
    if cuda_rows:
        parts += [attention_table(cuda_rows), "", attention_summary(cuda_rows), ""]
    else:
        parts += ["Skipped: `torch.cuda.is_available()` is False on this machine.", ""]
    return "\n".join(parts)
