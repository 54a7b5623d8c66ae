"""Every wheel this project installs except torch, for a Python version and platform, into one folder: what
`make install-offline` installs on an air-gapped machine that already has its (CUDA) torch.

usage: python scripts/wheelhouse.py [--python-version 3.12] [--arch x86_64] [--dest wheelhouse]

pip resolves the whole closure for the target (`pip install --dry-run --report`, reading metadata only: the
multi-GB torch and CUDA wheels are never downloaded), then downloads each wheel but torch's own stack
(`torch`, `triton`, `nvidia-*`), which the target machine brings. Packages published only as sources are built
into wheels here first (pure Python, so one wheel fits every target). Writes <dest>/requirements.txt (the
pinned closure) and <dest>/resolution.json (pip's report, trimmed): what was resolved, and for which target.
Needs a package index; run it where one is reachable.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SDIST_ONLY = {"antlr4-python3-runtime": "4.9.3"}  # hydra-core's parser runtime: no wheel on PyPI; pinned by hydra
TORCH_STACK = re.compile(r"^(torch|triton|nvidia-.*|cuda-.*)$")  # brought by the target machine's torch
MANYLINUX = ("manylinux_2_28", "manylinux_2_17", "manylinux2014", "manylinux1", "linux")  # newest first


def canonical(name: str) -> str:
    """PEP 503's normalised project name: `Foo_Bar.baz` and `foo-bar-baz` are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return canonical(re.split(r"[\s<>=!~;\[(@]", requirement.strip(), maxsplit=1)[0])


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """What the project installs, as pyproject.toml names it: its dependencies, the dev extra and the build
    backend (pip builds the editable install offline too), torch left out."""
    project = tomllib.loads(pyproject.read_text())
    named = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["dev"],
        *project["build-system"]["requires"],
    ]
    return [r for r in named if not TORCH_STACK.match(requirement_name(r))]


def platform_args(python_version: str, arch: str) -> list[str]:
    tags = [f"--platform={tag}_{arch}" for tag in MANYLINUX]
    return ["--only-binary=:all:", f"--python-version={python_version}", *tags]


def to_download(resolution: list[dict]) -> list[dict]:
    """The resolved distributions this folder must hold: all but torch's stack."""
    return [dist for dist in resolution if not TORCH_STACK.match(canonical(dist["name"]))]


def resolve(reqs: list[str], target: list[str], find_links: Path) -> list[dict]:
    """The full closure pip installs for `reqs` on the target: name, version, requirements and wheel of each."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--target", tmp]
        subprocess.run([*pip, *target, f"--find-links={find_links}", f"--report={report}", *reqs], check=True)
        installs = json.loads(report.read_text())["install"]
    return [
        {
            "name": item["metadata"]["name"],
            "version": item["metadata"]["version"],
            "requires_dist": item["metadata"].get("requires_dist", []),
            "wheel": item["download_info"]["url"].rsplit("/", 1)[-1],
        }
        for item in installs
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python-version", default=platform.python_version().rsplit(".", 1)[0])
    parser.add_argument("--arch", default=platform.machine(), help="x86_64 or aarch64")
    parser.add_argument("--dest", type=Path, default=ROOT / "wheelhouse")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    for name, version in SDIST_ONLY.items():  # built once, here, so the target never needs a compiler or an index
        subprocess.run([*pip, "wheel", "--quiet", "--no-deps", f"{name}=={version}", "-w", str(args.dest)], check=True)
    target = platform_args(args.python_version, args.arch)
    resolution = resolve(requirements(), target, args.dest)
    wanted = to_download(resolution)
    pinned = [f"{dist['name']}=={dist['version']}" for dist in wanted]
    fetch = [pin for dist, pin in zip(wanted, pinned, strict=True) if canonical(dist["name"]) not in SDIST_ONLY]
    subprocess.run([*pip, "download", "--quiet", "--no-deps", *target, "-d", str(args.dest), *fetch], check=True)
    (args.dest / "requirements.txt").write_text("\n".join(pinned) + "\n")
    trimmed = {"python_version": args.python_version, "arch": args.arch, "resolution": resolution}
    (args.dest / "resolution.json").write_text(json.dumps(trimmed, indent=1) + "\n")
    skipped = sorted(dist["name"] for dist in resolution if dist not in wanted)
    print(f"{len(wanted)} wheels for Python {args.python_version} {args.arch} in {args.dest}; left to the target: "
          f"{', '.join(skipped)}")  # fmt: skip


if __name__ == "__main__":
    main()
