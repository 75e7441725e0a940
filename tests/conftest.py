"""Fixtures of the workflow-level tests (test_pipeline.py, test_reruns.py, test_slurm.py).

* ``finished_run``: the whole DAG run once per session, locally (``snakemake --cores 2``) on the
  tiny configuration ``tests/config_test.yaml``, in a temporary copy of the workflow.
* ``run_copy``: a private copy of that finished run (outputs, logs and Snakemake's metadata, mtimes
  kept) for a test that reruns or modifies it.
* ``slurm_cluster``: a real single-node SLURM cluster on localhost (``tests/slurm/cluster.sh``),
  started once per session and stopped at teardown; skips where it cannot run (no SLURM packages,
  not root, an existing /etc/slurm/slurm.conf).

Every Snakemake call runs under ``timeout -k`` so that a hung scheduler never hangs the suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = [
    "REPO",
    "TEST_CONFIG",
    "copy_workflow",
    "deep_update",
    "describe_failure",
    "dry_run_jobs",
    "dry_run_outputs",
    "read_chunks",
    "snakemake",
    "subprocess_env",
    "summary",
    "write_config",
]

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIG = REPO / "tests" / "config_test.yaml"
WORKFLOW_FILES = ("Snakefile", "rules", "config", "envs", "report", "profiles")
CLUSTER_SCRIPT = REPO / "tests" / "slurm" / "cluster.sh"
SNAKEMAKE_TIMEOUT_S = 900


def subprocess_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a Snakemake subprocess: this interpreter's bin first (ganlee, snakemake)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow files (Snakefile, rules, config, envs, report, profiles) to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def snakemake(
    workdir: Path,
    *args: str,
    timeout: int = SNAKEMAKE_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``snakemake ARGS`` in ``workdir`` under ``timeout -k 10 TIMEOUT``; output captured.

    With ``check`` a non-zero exit fails the test, showing the tail of Snakemake's output and of
    the rule logs it names.
    """
    cmd = ["timeout", "-k", "10", str(timeout), sys.executable, "-m", "snakemake", *args]
    proc = subprocess.run(
        cmd, cwd=workdir, env=subprocess_env(env), capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        what = f"{' '.join(cmd[4:])} in {workdir} exited {proc.returncode}"
        pytest.fail(f"{what}:\n{describe_failure(workdir, proc)}")
    return proc


def describe_failure(workdir: Path, proc: subprocess.CompletedProcess[str]) -> str:
    """Tail of a failed Snakemake run plus the tails of the logs it names."""
    out = (proc.stdout or "") + (proc.stderr or "")
    parts = [out[-6000:]]
    for log in sorted(set(re.findall(r"(logs/\S+\.log)", out)))[:4]:
        path = workdir / log
        if path.is_file():
            parts.append(f"----- {log}:\n{path.read_text(errors='replace')[-2000:]}")
    return "\n".join(parts)


_STATS_ROW = re.compile(r"^(\w+)\s+(\d+)$")


def dry_run_jobs(workdir: Path, *args: str) -> Counter[str]:
    """Jobs per rule that ``snakemake -n ARGS`` would run (its "Job stats" table; empty when
    there is nothing to do). The pseudo-rule ``all`` is left out."""
    proc = snakemake(workdir, "-n", "--cores", "1", *args)
    out = proc.stdout + proc.stderr
    jobs: Counter[str] = Counter()
    if "Nothing to be done" in out:
        return jobs
    table = out.split("Job stats:", 1)
    assert len(table) == 2, f"no 'Job stats' table in the dry run of {args}:\n{out[-3000:]}"
    for line in table[1].splitlines()[3:]:
        m = _STATS_ROW.match(line.strip())
        if not m or m.group(1) == "total":
            break
        if m.group(1) != "all":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


def dry_run_outputs(workdir: Path, rule: str, *args: str) -> set[str]:
    """Output files of the jobs of ``rule`` that ``snakemake -n ARGS`` would run."""
    proc = snakemake(workdir, "-n", "--cores", "1", *args)
    outputs: set[str] = set()
    current = None
    for line in (proc.stdout + proc.stderr).splitlines():
        header = re.match(r"^(?:local)?rule (\w+):$", line)
        if header:
            current = header.group(1)
        elif current == rule and line.startswith("    output: "):
            outputs.update(p.strip() for p in line.removeprefix("    output: ").split(","))
    return outputs


def summary(workdir: Path, *args: str) -> dict[str, tuple[str, str]]:
    """``snakemake --summary ARGS``: output file -> (status, plan), e.g. ("ok", "no update")."""
    proc = snakemake(workdir, "--summary", *args)
    rows = [line.split("\t") for line in proc.stdout.splitlines() if "\t" in line]
    head = rows[0]
    assert head[:1] == ["output_file"], f"unexpected --summary header {head}"
    i_status, i_plan = head.index("status"), head.index("plan")
    return {r[0]: (r[i_status], r[i_plan]) for r in rows[1:]}


def deep_update(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, recursively for nested mappings."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = value
    return out


def write_config(path: Path, **changes: Any) -> Path:
    """Write tests/config_test.yaml with ``changes`` (nested dicts) merged in; return the path."""
    cfg = deep_update(yaml.safe_load(TEST_CONFIG.read_text()), changes)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def read_chunks(workdir: Path) -> dict[str, Any]:
    """All toy chunks of a run, concatenated: toy_index, seed, z_max (sorted by toy index)."""
    import numpy as np

    paths = sorted(
        (workdir / "results" / "toys").glob("chunk_*.npz"), key=lambda p: int(p.stem.split("_")[1])
    )
    assert paths, f"no toy chunks under {workdir / 'results' / 'toys'}"
    cols: dict[str, list[Any]] = {"toy_index": [], "seed": [], "z_max": []}
    for p in paths:
        with np.load(p, allow_pickle=False) as f:
            for key in cols:
                cols[key].append(f[key])
    out = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.argsort(out["toy_index"], kind="stable")
    return {k: v[order] for k, v in out.items()}


@pytest.fixture(autouse=True, scope="session")
def _isolated_cwd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Run the tests in an empty working directory (session-wide, before any other fixture).

    ``ganlee`` steps default to ``./config/config.yaml`` and ``./results/...`` of the directory
    they run in, so a test run from a checkout with results of an earlier pipeline run would
    otherwise read them. Tests that want a project directory ``chdir`` into one themselves.
    """
    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        yield
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny DAG, run to completion once per session (``snakemake --cores 2``)."""
    workdir = copy_workflow(tmp_path_factory.mktemp("finished_run") / "wf")
    snakemake(workdir, "--cores", "2", "--configfile", str(TEST_CONFIG))
    return workdir


@pytest.fixture
def run_copy(finished_run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run (mtimes kept, so Snakemake sees it as up to date)."""
    dest = tmp_path / "wf"
    shutil.copytree(finished_run, dest, symlinks=True, copy_function=shutil.copy2)
    return dest


def _run_cluster(action: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["timeout", "-k", "10", "120", "bash", str(CLUSTER_SCRIPT), action, str(state)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running single-node SLURM cluster; yields the environment its clients need (SLURM_CONF).

    Skips (with the script's reason) only where the cluster cannot run here: SLURM or munge not
    installed, not root, or an existing /etc/slurm/slurm.conf. Any other start failure fails.
    """
    check = subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), "check"], capture_output=True, text=True, check=False
    )
    if check.returncode == 3:
        pytest.skip(f"no SLURM cluster here: {check.stderr.strip()}")
    state = tmp_path_factory.mktemp("slurm")
    started = _run_cluster("start", state)
    if started.returncode == 3:
        pytest.skip(f"no SLURM cluster here: {started.stderr.strip()}")
    if started.returncode != 0:
        _run_cluster("stop", state)
        pytest.fail(
            f"tests/slurm/cluster.sh start failed ({started.returncode}):\n{started.stderr[-4000:]}"
        )
    try:
        yield {"SLURM_CONF": str(state / "etc" / "slurm.conf")}
    finally:
        stopped = _run_cluster("stop", state)
        if stopped.returncode != 0:
            print(f"tests/slurm/cluster.sh stop: {stopped.stderr}", file=sys.stderr)
