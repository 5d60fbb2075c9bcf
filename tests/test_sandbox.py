"""The grading sandbox (instructor/sandbox.py): what the kernel can see, and attacks that gain nothing.

The slow test grades a batch where students try to read solutions/, rewrite the gradebook, plant
files in course_lib / torch / site-packages for later students, and send data over the network,
between students graded before and after them. It needs bubblewrap: skipped with the reason
when it is missing, except in CI (``CI`` set), where that is a failure.
"""

import json
import os
import sys
from pathlib import Path

import pytest

from instructor import attacks, batches, kinds, sandbox
from instructor.autograde import autograde_chapters
from tests.notebook_tools import ROOT

PROBLEM = sandbox.sandbox_problem()


def _binds(argv: list[str]) -> tuple[list[str], list[str]]:
    """(read-only sources, writable sources) of a bwrap command line."""
    ro = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    rw = [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]
    return ro, rw


def test_kernelspec_starts_the_launcher(tmp_path):
    data_dir = sandbox.install_kernelspec(tmp_path)
    spec = json.loads((data_dir / "kernels" / sandbox.KERNEL_NAME / "kernel.json").read_text())
    assert spec["argv"][:3] == [sys.executable, str(ROOT / "instructor" / "sandbox.py"), "{connection_file}"]
    assert spec["interrupt_mode"] == "message"


def test_the_kernel_sees_only_its_folder_and_read_only_python(tmp_path):
    grading = tmp_path / "grading"
    student = grading / "autograded" / "alice" / "03_attention"
    student.mkdir(parents=True)
    argv = sandbox.bwrap_argv(student, tmp_path / "run", grading, ["python"])
    ro, rw = _binds(argv)
    assert rw == [str(student), str(tmp_path / "run")]
    for source in ro:
        path = Path(source)
        for secret in (ROOT / "solutions", ROOT / ".git", grading):
            assert not secret.is_relative_to(path), f"{source} would expose {secret}"
    assert any(Path(s).is_relative_to(Path(sys.prefix)) or s == sys.prefix for s in ro)
    for flag in (
        "--unshare-net",
        "--unshare-pid",
        "--unshare-user",
        "--disable-userns",
        "--clearenv",
        "--die-with-parent",
        "--new-session",
    ):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"


def test_a_folder_holding_the_solutions_is_never_bound(tmp_path):
    with pytest.raises(sandbox.SandboxError, match="contains"):
        sandbox.bwrap_argv(ROOT, tmp_path, None, ["python"])


def test_the_kernel_environment_keeps_nothing_of_the_graders(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("COURSE_LIB_FAST", "1")
    monkeypatch.setenv("COURSE_LIB_DEVICE", "cuda")
    env = sandbox.kernel_environment()
    assert "AWS_SECRET_ACCESS_KEY" not in env and env["COURSE_LIB_FAST"] == "1"
    assert env["COURSE_LIB_DEVICE"] == "cpu" and env["HOME"] == "/tmp" and env["PYTHONHASHSEED"] == "0"


def test_memory_limit_setting(monkeypatch):
    monkeypatch.setenv(sandbox.MEMORY_ENV, "6G")
    assert sandbox.memory_limit() == 6 * 2**30
    monkeypatch.setenv(sandbox.MEMORY_ENV, "0")
    assert sandbox.memory_limit() is None
    monkeypatch.setenv(sandbox.MEMORY_ENV, "lots")
    with pytest.raises(sandbox.SandboxError, match="8G"):
        sandbox.memory_limit()


def test_without_bubblewrap_grading_is_refused_unless_the_instructor_opts_out(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap here
    monkeypatch.delenv(sandbox.UNSANDBOXED_ENV, raising=False)
    with pytest.raises(sandbox.SandboxError, match=f"refusing to grade.*{sandbox.UNSANDBOXED_ENV}=1"):
        sandbox.require_sandbox()
    monkeypatch.setenv(sandbox.UNSANDBOXED_ENV, "1")
    assert sandbox.require_sandbox() == "UNSANDBOXED"
    assert "WARNING: grading WITHOUT the sandbox" in capsys.readouterr().err


@pytest.mark.slow
def test_attacks_on_the_grader_gain_nothing(tmp_path, monkeypatch):
    if PROBLEM:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the sandbox: {PROBLEM} (.ci/install-grading-deps.sh installs bubblewrap)")
        pytest.skip(f"no grading sandbox here: {PROBLEM}")
    monkeypatch.setenv("COURSE_CELL_TIMEOUT", "10")
    monkeypatch.delenv(sandbox.UNSANDBOXED_ENV, raising=False)
    chapter = kinds.TEMPLATE_CHAPTER
    listener = attacks.Listener()
    planted_before = [p for p in attacks.pwned_files() if p.exists()]
    try:
        batch = attacks.sandbox_attacks(chapter, listener.port)
        folder = batches.write(batch, tmp_path / "submissions", chapter)
        result = autograde_chapters([chapter], folder, tmp_path / "grading")[0]
    finally:
        listener.close()
        planted = [p for p in attacks.pwned_files() if p.exists() and p not in planted_before]
        for path in planted:
            path.unlink()
    assert not planted, f"a submission wrote {planted}"
    assert not listener.received, "a submission reached the grader's network"
    assert {s: result.scores[s] for s in batch} == {s: sub.expected for s, sub in batch.items()}
    assert not result.failed


def test_the_kernel_boot_ignores_the_students_folder_while_loading_and_exits_cleanly(tmp_path):
    # KERNEL_BOOT replaces `python -m ipykernel_launcher`: like it, it keeps the working folder
    # (the student's) off sys.path while ipykernel loads, so a planted ipykernel.py is not run;
    # its exit hook then ends the process once ipykernel has shut down.
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = tmp_path / "kernels" / "boot"
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-c", sandbox.KERNEL_BOOT, "-f", "{connection_file}"]
    (spec_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "boot", "language": "python"}))
    student = tmp_path / "student"
    student.mkdir()
    (student / "ipykernel.py").write_text("raise SystemExit('the planted module ran')\n")
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    km = KernelManager(kernel_name="boot", kernel_spec_manager=specs)
    km.start_kernel(cwd=str(student))
    client = km.client()
    client.start_channels()
    printed = []
    try:
        client.wait_for_ready(timeout=60)
        code = "import ipykernel, os; print(ipykernel.__file__, os.getcwd())"
        reply = client.execute_interactive(
            code, timeout=60, output_hook=lambda msg: printed.append(msg["content"].get("text", ""))
        )
    finally:
        client.stop_channels()
    km.request_shutdown()
    km.finish_shutdown(waittime=30)
    assert reply["content"]["status"] == "ok"
    module, cwd = "".join(printed).split()
    assert Path(cwd) == student and not Path(module).is_relative_to(student)
    assert not km.is_alive()
