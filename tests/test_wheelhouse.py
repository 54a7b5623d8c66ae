"""`make wheelhouse` covers what the project installs: every dependency pyproject.toml names (but torch), the dev
extra and the build backend, and the closure pip resolved for them (recorded from a real run for Python 3.12 on
x86_64 Linux: tests/fixtures/wheelhouse_resolution_py312.json; the suite downloads nothing). When pyproject.toml
changes its dependencies, record it again: `python scripts/wheelhouse.py --python-version 3.12 --dest /tmp/wh`,
then copy /tmp/wh/resolution.json over the fixture."""

from __future__ import annotations

import importlib.util
import json

from packaging.requirements import Requirement

from tests.helpers import ROOT

spec = importlib.util.spec_from_file_location("wheelhouse", ROOT / "scripts" / "wheelhouse.py")
wheelhouse = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wheelhouse)

PYPROJECT = wheelhouse.tomllib.loads((ROOT / "pyproject.toml").read_text())
RECORDED = json.loads((ROOT / "tests" / "fixtures" / "wheelhouse_resolution_py312.json").read_text())
TARGET = {"python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython"}  # fmt: skip


def names(requirements: list[str]) -> set[str]:
    return {wheelhouse.canonical(Requirement(r).name) for r in requirements}


def test_the_wheelhouse_asks_for_every_dependency_pyproject_names_but_torch():
    project = PYPROJECT["project"]
    named = names([*project["dependencies"], *project["optional-dependencies"]["dev"], "setuptools>=68"])
    assert names(wheelhouse.requirements()) == named - {"torch"}
    assert "torch" in names(project["dependencies"])  # left out on purpose: the target machine brings its own


def test_the_recorded_resolution_holds_every_requirement_and_its_whole_closure():
    resolved = {wheelhouse.canonical(d["name"]): d for d in RECORDED["resolution"]}
    assert RECORDED["python_version"] == "3.12" and RECORDED["arch"] == "x86_64"
    # record the fixture again (module docstring) when pyproject.toml gains a dependency
    assert names(wheelhouse.requirements()) - set(resolved) == set()
    missing = set()
    for dist in resolved.values():
        for text in dist["requires_dist"]:
            requirement = Requirement(text)
            needed = requirement.marker is None or requirement.marker.evaluate({**TARGET, "extra": ""})
            if needed and wheelhouse.canonical(requirement.name) not in resolved:
                missing.add(f"{dist['name']} needs {text}")
    assert missing == set()
    for name, version in wheelhouse.SDIST_ONLY.items():
        assert resolved[name]["version"] == version  # the pin the script builds a wheel for


def test_every_resolved_wheel_is_downloaded_except_torch_s_own_stack():
    downloaded = {wheelhouse.canonical(d["name"]) for d in wheelhouse.to_download(RECORDED["resolution"])}
    left = {wheelhouse.canonical(d["name"]) for d in RECORDED["resolution"]} - downloaded
    assert "torch" in left and all(n == "torch" or n.startswith(("nvidia-", "triton", "cuda-")) for n in left)
    assert {"lightning", "hydra-core", "torchmetrics", "albumentations", "setuptools", "pytest"} <= downloaded
    assert all(d["wheel"].endswith(".whl") for d in RECORDED["resolution"])  # binaries only: no build on the target
