"""Grading on Dask workers: time per submission per chapter, 2 workers vs 1, per-task overhead and
the wall time to expect for a class (section 3 of docs/benchmarks.md, with bench_autograde.py).

    python benchmarks/bench_workers.py [--per-chapter 3] [--students 20] [--chapters a,b] [--update-doc]

Everything goes through instructor/workers.py as `make autograde WORKERS=N` does: each submission
is one Dask task graded in its own workspace, sandboxed, fast mode.

- per chapter: ``--per-chapter`` submissions (solution, blank, the first mistake batch) graded on
  ONE worker, one after another; a submission's time is measured on the worker (workspace set-up,
  nbgrader's start, the kernel, the chapter's graded cells); the median is reported;
- scaling: ``--students`` submissions of the template chapter graded on 1 worker, then on 2 (fresh
  grading folders; the wall time includes starting the cluster);
- overhead: a no-op Dask task's round trip (dispatch), a task whose file nbgrader cannot read
  (workspace set-up and nbgrader's start, no kernel), and the coordinator's work per submission
  after the pool (recording into the gradebook, grades.csv, feedback);
- the class: 300 students x 10 chapters from those figures, at 1, 16 and 64 workers.
"""

from __future__ import annotations

import datetime
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from contention import CpuMeter  # noqa: E402

CLASS_STUDENTS = 300
PROJECTED_WORKERS = (1, 16, 64)
TARGET_S = 5.0  # issue 16: median grading time per submission, every chapter
HEADING = "### Grading on Dask workers"


@dataclass
class WorkersRun:
    per_chapter: dict[str, list[float]] = field(default_factory=dict)  # chapter -> seconds per submission
    cold: dict[str, float] = field(default_factory=dict)  # chapter -> the solution's seconds, cold nbgrader
    scaling: dict[int, float] = field(default_factory=dict)  # workers -> wall seconds for the batch
    students: int = 0
    dispatch_s: float = float("nan")
    overhead_s: float = float("nan")
    coordinator_s: float = float("nan")  # per submission, after the pool (the part that grows with the class)
    coordinator_fixed_s: float = float("nan")  # per chapter, after the pool, whatever its size
    as_expected: bool = True
    others_cores: float = float("nan")
    sandbox: str = ""
    date: str = ""

    def median(self, chapter: str) -> float:
        return statistics.median(self.per_chapter[chapter])

    @property
    def speedup(self) -> float:
        return self.scaling[1] / self.scaling[2]

    def projected_min(self, workers: int) -> tuple[float, float, float]:
        """(grading, coordinator, wall) minutes for the class, each worker on a core of its own.

        The coordinator records chapter k while the pool grades chapter k + 1 (instructor/workers.py),
        so with g the pool's minutes per chapter and c the coordinator's, the wall time is
        g + 9·max(g, c) + c: the first chapter's grading, nine steps of whichever is slower, and the
        last chapter's recording."""
        work = CLASS_STUDENTS * sum(map(self.median, self.per_chapter)) * 10 / len(self.per_chapter)
        g = work / workers / 60 / 10
        c = (self.coordinator_fixed_s + CLASS_STUDENTS * self.coordinator_s) / 60
        return 10 * g, 10 * c, g + 9 * max(g, c) + c


def _folder(scratch: Path, chapter: str, batch: dict) -> Path:
    """Collected grading folder for ``batch``."""
    from instructor import batches
    from instructor.collect import collect

    grading_dir = scratch / f"grading-{chapter}"
    collect(batches.write(batch, scratch / f"submissions-{chapter}", chapter), chapter, grading_dir)
    return grading_dir


def per_chapter(chapters: list[str], count: int, scratch: Path, log) -> tuple[dict, dict]:
    """(chapter -> worker-side seconds of ``count`` submissions graded on one worker, chapter ->
    seconds of the first one graded again with a cold nbgrader, as before the warm server)."""
    from dataclasses import replace

    from instructor import batches, workers
    from instructor.warm_nbgrader import WARM_ENV

    times, cold = {}, {}
    with workers.open_client(1) as client:
        for chapter in chapters:
            batch = batches.submissions(chapter, ["solution", "blank"])
            batch.update({s: sub for s, (sub, _) in list(batches.mistake_submissions(chapter).items())[:1]})
            batch = dict(list(batch.items())[:count])
            grading_dir = _folder(scratch, chapter, batch)
            gradebook = workers.template_gradebook(grading_dir, chapter)
            times[chapter] = [
                client.submit(workers.grade, workers.task_for(grading_dir, chapter, s), gradebook, pure=False)
                .result()
                .seconds
                for s in batch
            ]
            first = replace(
                task := workers.task_for(grading_dir, chapter, next(iter(batch))), env=task.env | {WARM_ENV: "0"}
            )
            cold[chapter] = client.submit(workers.grade, first, gradebook, pure=False).result().seconds
            log(f"   {chapter}: {' '.join(f'{t:.1f}' for t in times[chapter])} s; cold nbgrader {cold[chapter]:.1f} s")
    return times, cold


def overheads(scratch: Path, chapter: str) -> tuple[float, float]:
    """(no-op task round trip, unreadable-file task on the worker) in seconds, medians."""
    from instructor import workers

    grading_dir = scratch / "overhead"
    folder = grading_dir / "submitted" / "nobody" / chapter
    folder.mkdir(parents=True)
    (folder / f"{chapter}.ipynb").write_text("not a notebook")
    with workers.open_client(1) as client:
        client.submit(int, 0, pure=False).result()  # warm
        trips = []
        for i in range(30):
            started = time.perf_counter()
            client.submit(int, i, pure=False).result()
            trips.append(time.perf_counter() - started)
        gradebook = workers.template_gradebook(grading_dir, chapter)
        empty = [
            client.submit(workers.grade, workers.task_for(grading_dir, chapter, "nobody"), gradebook, pure=False)
            .result()
            .seconds
            for _ in range(3)
        ]
    return statistics.median(trips), statistics.median(empty)


def _keep_only(grading_dir: Path, chapter: str, keep: set[str]) -> None:
    """Forget every submission of ``chapter`` but ``keep``'s (submitted and graded on workers)."""
    import shutil

    from instructor import workers

    for folder in (grading_dir / "submitted", workers.results_dir(grading_dir)):
        for student in folder.glob(f"*/{chapter}"):
            if student.parent.name not in keep:
                shutil.rmtree(student)


def scaling(chapter: str, students: int, scratch: Path, log) -> tuple[dict[int, float], tuple[float, float], bool]:
    """workers -> wall seconds of the pool; the coordinator's (seconds per submission, fixed seconds
    per chapter); scores as expected.

    The coordinator's part is timed on the 1-worker batch (every submission) and on the 2-worker
    batch cut down to a quarter of it: the difference gives what each submission adds."""
    from bench_autograde import MIX, _built

    from instructor import workers
    from instructor.autograde import grade_chapter
    from instructor.export import export, read_scores
    from instructor.nbgrader_cli import nbgrader

    built = _built(chapter)
    batch = {f"s{i:03d}-{MIX[i % len(MIX)]}": built[MIX[i % len(MIX)]] for i in range(students)}
    walls, after, as_expected = {}, {}, True
    for count in (1, 2):
        grading_dir = _folder(scratch / f"scaling-{count}", chapter, batch)
        started = time.perf_counter()
        workers.grade_on_workers(grading_dir, [chapter], workers=count, log=lambda m: None)
        walls[count] = time.perf_counter() - started
        kept = list(batch)[: max(1, students // 4)] if count == 2 else list(batch)
        _keep_only(grading_dir, chapter, set(kept))
        started = time.perf_counter()
        grade_chapter(chapter, grading_dir, workers.results_dir(grading_dir))
        scores = read_scores(export(grading_dir), chapter)
        if not workers.publish_feedback(grading_dir, chapter):  # the workers wrote the pages
            nbgrader("generate_feedback", chapter, "--force", grading_dir=grading_dir, check=False)
        after[len(kept)] = time.perf_counter() - started
        as_expected &= all(
            scores.get(s) == sub.expected
            if sub.expected == sub.expected
            else scores.get(s, 1e9) < built["solution"].expected
            for s, sub in batch.items()
            if s in kept
        )
        log(f"   {count} worker(s): {walls[count]:.0f} s for {students} submissions")
    (few, t_few), (many, t_many) = sorted(after.items())
    per = (t_many - t_few) / (many - few) if many > few else t_many / many
    return walls, (per, max(0.0, t_many - per * many)), as_expected


def run(chapters: list[str], per: int, students: int, log=print) -> WorkersRun:
    from instructor.kinds import TEMPLATE_CHAPTER
    from instructor.sandbox import require_sandbox

    result = WorkersRun(
        students=students, sandbox=require_sandbox(), date=datetime.datetime.now().isoformat(timespec="minutes")
    )
    with tempfile.TemporaryDirectory() as scratch, CpuMeter() as meter:
        log(f"3b. grading on Dask workers ({result.sandbox}): per chapter, {per} submission(s) on one worker")
        result.per_chapter, result.cold = per_chapter(chapters, per, Path(scratch), log)
        result.dispatch_s, result.overhead_s = overheads(Path(scratch), TEMPLATE_CHAPTER)
        log(f"   overhead: dispatch {1000 * result.dispatch_s:.0f} ms, empty task {result.overhead_s:.1f} s")
        result.scaling, (result.coordinator_s, result.coordinator_fixed_s), result.as_expected = scaling(
            TEMPLATE_CHAPTER, students, Path(scratch), log
        )
    result.others_cores = meter.others_cores
    return result


def workers_markdown(run: WorkersRun) -> str:
    """The workers part of section 3."""
    others = "unknown" if run.others_cores != run.others_cores else f"{run.others_cores:.1f} cores"
    lines = [
        HEADING,
        "",
        f"Measured {run.date} with `make bench-autograde` ({run.sandbox}, fast mode) while other processes "
        f"used {others} of this machine's CPUs on average (benchmarks/contention.py): on a shared 2-core "
        "machine every figure below is inflated by that contention; re-measure on a quiet machine.",
        "",
        "| chapter | submissions | median s per submission | target | the solution, cold nbgrader (s) |",
        "|---|---:|---:|---|---:|",
    ]
    for chapter, times in run.per_chapter.items():
        verdict = "meets" if run.median(chapter) <= TARGET_S else "misses"
        cold = run.cold.get(chapter, float("nan"))
        lines.append(
            f"| {chapter} | {len(times)} | **{run.median(chapter):.1f}** | ≤ {TARGET_S:.0f} s: {verdict} | {cold:.1f} |"
        )
    one, two = run.scaling.get(1, float("nan")), run.scaling.get(2, float("nan"))
    lines += [
        "",
        "A submission's time is measured on the worker: its workspace, nbgrader's start, the sandboxed "
        "kernel and the chapter's non-demo cells. The last column grades the chapter's first submission "
        "(the solution) again with `COURSE_WARM_NBGRADER=0`: a fresh `python -m nbgrader` per submission, "
        "as before workers kept nbgrader warm (instructor/warm_nbgrader.py).",
        "",
        f"| {run.students} submissions of the template chapter | wall (s) | submissions per minute |",
        "|---|---:|---:|",
        f"| 1 worker | {one:.0f} | {60 * run.students / one:.1f} |",
        f"| 2 workers | {two:.0f} | {60 * run.students / two:.1f} |",
        "",
        f"2 workers vs 1: **{run.speedup:.2f}x** the throughput (target ≥ 1.7x on a quiet machine; "
        f"scores {'all as expected' if run.as_expected else 'MISMATCH'}). Per-task overhead: dispatching a "
        f"task costs {1000 * run.dispatch_s:.0f} ms (a no-op task's round trip); a task whose file nbgrader "
        f"cannot read — workspace set-up and nbgrader's start, no kernel — takes {run.overhead_s:.1f} s; "
        f"the coordinator records a chapter's submissions in the gradebook, exports grades.csv and "
        f"publishes the feedback pages the workers wrote: {run.coordinator_fixed_s:.1f} s per chapter plus "
        f"{run.coordinator_s:.2f} s per submission (timed on all {run.students} submissions and on a quarter "
        "of them).",
        "",
        f"Expected wall time for {CLASS_STUDENTS} students x 10 chapters (the per-chapter medians above, "
        "averaged over the chapters measured; each worker on a core of its own). The coordinator's part "
        "does not spread over workers, but it overlaps the pool: it records chapter k while the workers "
        "grade chapter k + 1, so the wall time is g + 9·max(g, c) + c for g and c the pool's and the "
        "coordinator's minutes per chapter:",
        "",
        "| workers | grading (min) | coordinator (min) | wall (min) |",
        "|---:|---:|---:|---:|",
    ]
    for count in PROJECTED_WORKERS:
        grading, coordinator, wall = run.projected_min(count)
        lines.append(f"| {count} | {grading:.0f} | {coordinator:.0f} | **{wall:.0f}** |")
    return "\n".join(lines + [""])
