"""The grading kernel: every submission runs in its own confined ipykernel.

nbgrader runs student code with the grader's account. Unconfined, a submission can read
``solutions/`` (and earn full marks), rewrite ``gradebook.db``, edit the installed
``course_lib`` or ``torch`` so that later students pass, or talk to the network. The kernelspec
``course-grading`` (installed under the grading folder, selected in nbgrader_config.py) starts
ipykernel through this launcher, which wraps it in bubblewrap (``bwrap``):

- the filesystem is empty except for read-only system and Python folders (the venv, the base
  interpreter, course_lib's own package folder — never the course root, ``solutions/`` or the
  grading folder) and the student's autograded folder, the only writable place besides ``/tmp``;
- no network (a private network namespace; nbclient talks to the kernel over Unix-socket IPC
  files in a private folder, linked to the paths the client expects);
- its own PID, IPC and user namespaces, no capabilities, no nested user namespaces,
  a new session (no controlling terminal);
- resource limits set before the sandbox starts: address space (``COURSE_KERNEL_MEMORY``,
  default 8G), file size, no core dumps;
- a clean environment (fast mode and ``NBGRADER_EXECUTION`` are passed through, the device is
  forced to CPU, ``PYTHONHASHSEED=0``);
- ``course_lib.grading`` is imported before any student code, so its snapshot of the genuine
  torch functions is taken while they are still genuine.

Without bwrap the launcher refuses to start the kernel unless the instructor sets
``COURSE_GRADING_UNSANDBOXED=1`` (then only the resource limits and the clean environment
apply). This file is also the launcher script, so it imports nothing outside the standard
library; run ``python instructor/sandbox.py --check`` to see whether the sandbox works here.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "course-grading"
UNSANDBOXED_ENV = "COURSE_GRADING_UNSANDBOXED"
MEMORY_ENV = "COURSE_KERNEL_MEMORY"
DEFAULT_MEMORY = "8G"
FILE_SIZE_LIMIT = 256 * 2**20  # largest file the kernel may write (its stdout log included)
ROOT = Path(__file__).resolve().parents[1]
INSIDE_RUN = "/run/kernel"  # where the kernel sees its private connection folder
PASS_ENV_PREFIXES = ("COURSE_LIB_", "NBGRADER_")
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "fonts",
    "localtime",
    "passwd",
    "group",
    "nsswitch.conf",
    "mime.types",
    "alternatives",
    "matplotlibrc",
)
PRELOAD = "import course_lib.grading"  # before any student code: the integrity snapshot
# The kernel's entry point: ipykernel_launcher's own two steps (the working folder off sys.path
# while ipykernel loads, then the app), after one exit hook registered first so that it runs
# last: once ipykernel's own exit handlers are done it ends the process, skipping the
# interpreter's teardown of torch (about 0.5 s of every graded submission). The exit status is
# then always 0; nbgrader reads none (a kernel that dies early is still seen dying).
KERNEL_BOOT = """
import atexit, os, sys

def _end_now():
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

atexit.register(_end_now)
if sys.path[0] in ("", os.getcwd()):
    del sys.path[0]
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""


class SandboxError(RuntimeError):
    """The grading sandbox cannot start here (and the instructor did not opt out)."""


def unsandboxed() -> bool:
    """True when the instructor explicitly accepts grading without the sandbox."""
    return os.environ.get(UNSANDBOXED_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def memory_limit() -> int | None:
    """Bytes of address space for the kernel (``COURSE_KERNEL_MEMORY``: 8G, 6000M, 0 = none)."""
    return parse_size(os.environ.get(MEMORY_ENV, DEFAULT_MEMORY), MEMORY_ENV)


def parse_size(text: str, name: str) -> int | None:
    """Bytes in a size such as 8G, 6000M or 1.5T (None for 0); ``name`` is the setting, for errors."""
    text = text.strip().upper()
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    try:
        value = float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)
    except ValueError:
        raise SandboxError(f"{name} must be a size such as 8G or 6000M; got {text!r}") from None
    return int(value) if value > 0 else None


# --------------------------------------------------------------------------- the kernelspec


def install_kernelspec(grading_dir: Path) -> Path:
    """Write the ``course-grading`` kernelspec under ``grading_dir``; return the Jupyter data dir
    to put on ``JUPYTER_PATH``."""
    data_dir = Path(grading_dir).resolve() / "jupyter"
    spec_dir = data_dir / "kernels" / KERNEL_NAME
    spec = {
        "argv": [
            sys.executable,
            str(Path(__file__).resolve()),
            "{connection_file}",
            "--grading-dir",
            str(Path(grading_dir).resolve()),
        ],
        "display_name": "Course grading (sandboxed Python)",
        "language": "python",
        "interrupt_mode": "message",  # signals do not cross into the sandbox's session
        "metadata": {"debugger": False},
    }
    text = json.dumps(spec, indent=1) + "\n"
    spec_file = spec_dir / "kernel.json"
    if not spec_file.exists() or spec_file.read_text() != text:
        spec_dir.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(text)
    return data_dir


# --------------------------------------------------------------------------- the sandbox

_PROBE = """import importlib.util, json, sys
spec = importlib.util.find_spec("course_lib")
where = None if spec is None else list(spec.submodule_search_locations or [spec.origin])
print(json.dumps({"path": sys.path, "prefixes": [sys.prefix, sys.base_prefix], "course_lib": where}))
"""


def _python_folders() -> list[Path]:
    """Folders the kernel's Python needs: interpreter, venv, its sys.path, course_lib's package.

    Asked of the interpreter itself, isolated (``-I``: no PYTHONPATH, no current folder) as the
    kernel will be: the launcher's own sys.path may hold the course root.
    """
    probe = subprocess.run([sys.executable, "-I", "-c", _PROBE], capture_output=True, text=True, cwd="/")
    if probe.returncode != 0:
        raise SandboxError(f"cannot inspect {sys.executable}: {probe.stderr.strip()[-400:]}")
    info = json.loads(probe.stdout)
    if info["course_lib"] is None:
        raise SandboxError("course_lib is not installed in this Python; run `make venv`")
    folders = [Path(sys.executable).parent] + [Path(p) for p in info["prefixes"]]
    folders += [Path(p) for p in info["path"] if p and Path(p).is_dir()]
    folders += [Path(p) if Path(p).is_dir() else Path(p).parent for p in info["course_lib"]]
    resolved = []
    for folder in folders:
        for path in (folder.absolute(), folder.resolve()):
            if path not in resolved:
                resolved.append(path)
    return sorted(resolved)


def _check_private(path: Path, forbidden: list[Path]) -> None:
    """Refuse to expose a folder that is, or contains, the course's secrets."""
    for secret in forbidden:
        if secret == path or secret.is_relative_to(path):
            raise SandboxError(
                f"the grading sandbox would have to expose {path}, which contains {secret}; "
                "install the course's Python environment outside the course folder"
            )


def bwrap_argv(student_dir: Path, run_dir: Path, grading_dir: Path | None, command: list[str]) -> list[str]:
    """The bubblewrap command line that runs ``command`` confined to ``student_dir``."""
    forbidden = [ROOT / "solutions", ROOT / ".git"] + ([grading_dir.resolve()] if grading_dir else [])
    argv = [
        "bwrap",
        "--unshare-user",
        "--disable-userns",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "grading",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--dir",
        "/run",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            argv += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            argv += ["--ro-bind", str(top), str(top)]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in ETC_FILES:
        if (Path("/etc") / name).exists():
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    for folder in _python_folders():
        if folder.is_relative_to("/usr") or not folder.exists():
            continue
        _check_private(folder, forbidden)
        argv += ["--ro-bind", str(folder), str(folder)]
    _check_private(student_dir, forbidden + [ROOT / "course_lib"])
    argv += [
        "--bind",
        str(student_dir),
        str(student_dir),
        "--bind",
        str(run_dir),
        INSIDE_RUN,
        "--chdir",
        str(student_dir),
        "--clearenv",
    ]
    for key, value in sorted(kernel_environment().items()):
        argv += ["--setenv", key, value]
    return argv + ["--"] + command


def kernel_environment() -> dict[str, str]:
    """The kernel's whole environment: nothing of the grader's except fast-mode switches."""
    env = {
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "COURSE_LIB_DEVICE": "cpu",
    }
    env.update({k: v for k, v in os.environ.items() if k.startswith(PASS_ENV_PREFIXES) and k != "COURSE_LIB_DEVICE"})
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


_CHECK = "import importlib.util, sys; sys.exit(importlib.util.find_spec('course_lib') is None)"


def sandbox_problem() -> str | None:
    """None if bubblewrap can start a sandbox here, else what is wrong (for the refusal message)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (`bwrap`) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    with tempfile.TemporaryDirectory() as scratch:
        try:
            argv = bwrap_argv(Path(scratch), Path(scratch), None, [sys.executable, "-c", _CHECK])
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        except (SandboxError, OSError, subprocess.TimeoutExpired) as err:
            return str(err)
    if done.returncode != 0:
        return f"bwrap could not start a sandbox here: {done.stderr.strip()[-600:]}"
    return None


def require_sandbox() -> str:
    """'sandboxed', or 'UNSANDBOXED' when opted out; raise SandboxError if neither is possible."""
    problem = sandbox_problem()
    if problem is None:
        return "sandboxed"
    if unsandboxed():
        print(
            f"WARNING: grading WITHOUT the sandbox ({UNSANDBOXED_ENV}=1): {problem}. Student code can read "
            "solutions/, change the gradebook and edit the installed packages.",
            file=sys.stderr,
        )
        return "UNSANDBOXED"
    raise SandboxError(
        f"refusing to grade: {problem}. Install bubblewrap, or set {UNSANDBOXED_ENV}=1 "
        "if you accept that student code runs with your account's rights."
    )


# --------------------------------------------------------------------------- the launcher


def _limits() -> None:
    """Run in the child before exec: resource limits and death with the launcher."""
    limit = memory_limit()
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _private_connection(connection_file: Path, run_dir: Path, links: list[Path]) -> Path:
    """Copy the connection info into ``run_dir`` with IPC paths inside it, and link the paths the
    client will connect to (``<ip>-<port>``) to the sockets the kernel will create there."""
    info = json.loads(connection_file.read_text())
    if info.get("transport") != "ipc":
        raise SandboxError("the sandboxed kernel needs c.KernelManager.transport = 'ipc' (nbgrader_config.py)")
    client_ip = Path(info["ip"])
    if not client_ip.is_absolute():
        raise SandboxError(f"IPC path {client_ip} must be absolute (set c.KernelManager.ip)")
    for key in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        link = Path(f"{client_ip}-{info[key]}")
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(run_dir / f"k-{info[key]}")
        links.append(link)
    inside = dict(info, ip=f"{INSIDE_RUN}/k")
    (run_dir / "connection.json").write_text(json.dumps(inside))
    return Path(INSIDE_RUN) / "connection.json"


def launch(connection_file: Path, grading_dir: Path | None) -> int:
    """Start ipykernel for ``connection_file`` in the sandbox (cwd = the student's folder)."""
    student_dir = Path.cwd().resolve()
    kernel = [
        sys.executable,
        "-c",
        KERNEL_BOOT,
        "--HistoryManager.enabled=False",
        f"--IPKernelApp.exec_lines={PRELOAD}",
    ]
    if unsandboxed():
        env = kernel_environment()
        env["PYTHONPATH"] = ""
        proc = subprocess.Popen(kernel + ["-f", str(connection_file)], env=env, preexec_fn=_limits)
        return _wait(proc)
    if shutil.which("bwrap") is None:
        raise SandboxError(
            f"bubblewrap (`bwrap`) is not installed; refusing to run student code unconfined "
            f"(set {UNSANDBOXED_ENV}=1 to accept the risk)"
        )
    run_dir = Path(tempfile.mkdtemp(prefix="sandbox-", dir=connection_file.parent))
    links: list[Path] = []
    try:
        inside = _private_connection(connection_file, run_dir, links)
        argv = bwrap_argv(student_dir, run_dir, grading_dir, kernel + ["-f", str(inside)])
        proc = subprocess.Popen(argv, preexec_fn=_limits)
        return _wait(proc)
    finally:
        for link in links:
            link.unlink(missing_ok=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def _wait(proc: subprocess.Popen) -> int:
    """Forward termination signals to the sandbox and return its exit status."""

    def forward(signum, _frame):
        proc.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    return proc.wait()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        problem = sandbox_problem()
        print("the grading sandbox works here" if problem is None else f"no sandbox: {problem}")
        return 0 if problem is None else 1
    grading_dir = Path(argv[argv.index("--grading-dir") + 1]) if "--grading-dir" in argv else None
    try:
        return launch(Path(argv[0]).resolve(), grading_dir)
    except SandboxError as err:
        print(f"course-grading kernel: {err}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
