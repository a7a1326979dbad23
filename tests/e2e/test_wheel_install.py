"""The released tool, as a user gets it: the sdist and the wheel built from it, the wheel installed
into a clean virtualenv outside the repository, run from a directory that is not the repository.

Nothing here needs a package index: the build uses the dev environment's backend
(``--no-isolation``) and the wheel's dependencies come from a local wheelhouse, repacked from the
distributions installed in the dev environment. Only what the wheel declares is installed, so an
undeclared dependency fails the run. Everything lives in one temporary directory, removed after
the module.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import turnstile_sync
from tests.conftest import REPO_ROOT, run_cli
from tests.processes import clean_env

BUILD_GUARD = 300
"""Seconds a build or install may take before the test fails: a bound on a hang, not speed."""

RUN_GUARD = 60


@dataclass(frozen=True)
class Release:
    sdist: Path
    wheel: Path
    venv: Path
    home: Path

    @property
    def cli(self) -> Path:
        return self.venv / "bin" / "turnstile-sync"

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """The installed console script, from ``cwd``, with nothing of the repository around."""
        return subprocess.run(
            [str(self.cli), *args],
            cwd=cwd,
            env=outside_env(NO_COLOR="1", HOME=str(self.home)),
            capture_output=True,
            text=True,
            timeout=RUN_GUARD,
            check=False,
        )


def outside_env(**extra: str) -> dict[str, str]:
    """No credentials, no PYTHONPATH pointing into the checkout, no user pip configuration, and
    no package index."""
    env = clean_env(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_CACHE_DIR="1",
        **extra,
    )
    for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.pop(key, None)
    return env


def checked(command: list[str], cwd: Path) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=BUILD_GUARD,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode()
    return [
        Requirement(line.split(":", 1)[1])
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def applies(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate({"extra": ""})


def dependency_closure(roots: list[Requirement]) -> list[metadata.Distribution]:
    """The installed distributions the wheel's declared requirements pull in, transitively."""
    found: dict[str, metadata.Distribution] = {}
    pending = [r for r in roots if applies(r)]
    while pending:
        requirement = pending.pop()
        key = canonicalize_name(requirement.name)
        if key in found:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{requirement.name} is declared by the wheel but not installed here")
        found[key] = dist
        pending += [r for r in map(Requirement, dist.requires or []) if applies(r)]
    return list(found.values())


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def repack(dist: metadata.Distribution, into: Path) -> Path:
    """A wheel of an installed distribution, from the files its RECORD lists (scripts and
    bytecode left out: the installer regenerates them)."""
    metadata_file = next(f for f in dist.files or [] if f.name == "METADATA")
    dist_info = Path(str(dist.locate_file(metadata_file))).parent
    wheel_meta = (dist_info / "WHEEL").read_text()
    tag = re.search(r"^Tag: (\S+)$", wheel_meta, re.MULTILINE)
    assert tag is not None, dist_info
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    target = into / f"{name}-{dist.version}-{tag.group(1)}.whl"
    rows = []
    with zipfile.ZipFile(target, "w") as archive:
        for file in dist.files or []:
            posix = file.as_posix()
            if posix.startswith("..") or "__pycache__" in posix or posix.endswith("/RECORD"):
                continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            archive.writestr(posix, data)
            rows.append((posix, record_hash(data), str(len(data))))
        record = f"{dist_info.name}/RECORD"
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([*rows, (record, "", "")])
        archive.writestr(record, buffer.getvalue())
    return target


@pytest.fixture(scope="module")
def release() -> Iterator[Release]:
    """Build the sdist and the wheel from it, install the wheel and only what it declares into a
    new virtualenv; all in one temporary directory outside the repository, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="turnstile-sync-release-") as temporary:
        root = Path(temporary).resolve()
        assert not root.is_relative_to(REPO_ROOT)
        dist, wheelhouse, venv, home = (root / n for n in ("dist", "wheelhouse", "venv", "home"))
        for directory in (wheelhouse, home):
            directory.mkdir()
        # With no --sdist/--wheel, build makes the sdist and then the wheel from the sdist.
        checked(
            [
                sys.executable,
                "-m",
                "build",
                "--no-isolation",
                "--outdir",
                str(dist),
                str(REPO_ROOT),
            ],
            root,
        )
        (sdist,) = dist.glob("*.tar.gz")
        (wheel,) = dist.glob("*.whl")
        for dependency in dependency_closure(wheel_requirements(wheel)):
            repack(dependency, wheelhouse)
        # No pip, no system site-packages: the venv holds the wheel and its dependencies only.
        # --no-compile: the installed tool compiles what it imports when it first runs, which
        # halves the install (most of pygments, rich and pydantic is never imported).
        checked([sys.executable, "-m", "venv", "--without-pip", str(venv)], root)
        checked(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(venv / "bin" / "python"),
                "install",
                "--quiet",
                "--no-compile",
                "--no-index",
                "--find-links",
                str(wheelhouse),
                str(wheel),
            ],
            root,
        )
        yield Release(sdist, wheel, venv, home)


def sdist_names(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        return {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}


def test_sdist_holds_what_building_from_it_needs_and_no_tree_clutter(release):
    names = sdist_names(release.sdist)
    for needed in (
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "PKG-INFO",
        "turnstile_sync/__init__.py",
        "turnstile_sync/py.typed",
        "turnstile_sync/emulator/backend.py",
        "examples/widgets.yaml",
        "turnstile-sync.schema.json",
    ):
        assert needed in names
    assert not {n for n in names if n.startswith((".venv/", ".ci/", ".git/", "dist/"))}
    assert not {n for n in names if "__pycache__" in n or n.endswith(".pyc")}


def test_wheel_holds_the_typed_package_and_nothing_else(release):
    with zipfile.ZipFile(release.wheel) as archive:
        names = set(archive.namelist())
    dist_info = f"turnstile_sync-{turnstile_sync.__version__}.dist-info/"
    assert {"turnstile_sync/py.typed", "turnstile_sync/cli/__init__.py"} <= names
    assert {"turnstile_sync/emulator/backend.py", f"{dist_info}entry_points.txt"} <= names
    assert f"{dist_info}licenses/LICENSE" in names  # the licence text travels with the code
    assert {n.split("/", 1)[0] + "/" for n in names} == {"turnstile_sync/", dist_info}
    assert not {n for n in names if "__pycache__" in n or n.endswith(".pyc")}


def test_every_artefact_and_the_installed_tool_carry_the_one_version(release, tmp_path):
    version = turnstile_sync.__version__
    assert release.sdist.name == f"turnstile_sync-{version}.tar.gz"
    assert release.wheel.name == f"turnstile_sync-{version}-py3-none-any.whl"
    with tarfile.open(release.sdist) as archive:
        member = archive.extractfile(f"turnstile_sync-{version}/PKG-INFO")
        assert member is not None
        assert f"\nVersion: {version}\n" in member.read().decode()

    shown = release.run("--version", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"turnstile-sync, version {version}\n"


def test_installed_package_comes_from_the_clean_venv_alone(release, tmp_path):
    probe = subprocess.run(
        [
            str(release.venv / "bin" / "python"),
            "-c",
            "import importlib.util, turnstile_sync\n"
            "from importlib.resources import files\n"
            "print(turnstile_sync.__file__)\n"
            "print(files('turnstile_sync').joinpath('py.typed').is_file())\n"
            "print([m for m in ('pytest', 'pip', 'hypothesis') if importlib.util.find_spec(m)])",
        ],
        cwd=tmp_path,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=RUN_GUARD,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    location, typed, dev_tools = probe.stdout.splitlines()
    assert Path(location).is_relative_to(release.venv)
    assert typed == "True"
    assert dev_tools == "[]"


def test_installed_tool_plans_and_applies_the_example_outside_the_repository(release, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(REPO_ROOT / "examples" / "widgets.yaml", work / "widgets.yaml")

    planned = release.run("plan", "widgets.yaml", "--emulator", cwd=work)
    assert planned.returncode == 0, planned.stderr
    assert "Plan: 5 to create, 0 to update, 0 to replace, 0 to delete." in planned.stdout
    for name in ("blog login form", "checkout", "newsletter signup", "china storefront"):
        assert f"+ create '{name}'" in planned.stdout
    assert (work / ".turnstile-sync" / "emulator.sqlite3").is_file()
    # The same spec through the checkout's own code plans exactly the same.
    oracle = run_cli(
        ["plan", str(work / "widgets.yaml"), "--emulator", "--emulator-db", str(tmp_path / "o.db")],
        env={"NO_COLOR": "1"},
    )
    assert oracle.exit_code == 0, oracle.stderr
    assert planned.stdout == oracle.stdout

    applied = release.run(
        "apply",
        "widgets.yaml",
        "--emulator",
        "--auto-approve",
        "--secrets-out",
        "secrets.json",
        cwd=work,
    )
    assert applied.returncode == 0, applied.stderr
    assert (work / "secrets.json").stat().st_mode & 0o077 == 0
    settled = release.run("plan", "widgets.yaml", "--emulator", "--detailed-exitcode", cwd=work)
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert "No changes." in settled.stdout
