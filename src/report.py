"""Compare the runs of a sweep: `python -m src.report outputs/multirun/<date>/<time>/ [--out DIR] [--format md|html]`.

Reads each job folder the sweep left (`.hydra/overrides.yaml`, `metrics.json` with its per-epoch `history`,
`images/val_epoch_*.png`) and writes, into `<sweep>/report/` unless `--out` says otherwise, `report.md` (or
`report.html`) beside its PNGs, linked by file name so the folder can be moved: the swept overrides, the curves,
a table of final metrics with convergence and overfitting onset (defined in `src/sweeps/statistics.py`), an
analysis in words, the latest prediction grids side by side, and the failed jobs. A sweep over seeds
(`seed=1,2,3`) is reported per group of seeds: mean and min-max band curves, mean ± sd with 95% intervals, and
paired verdicts against the first group (`src/sweeps/seed_comparison.py`). Nothing is written into a job folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from src.core.errors import ConfigError
from src.sweeps.report import write_report


def main(argv: list[str] | None = None) -> None:
    """Write the report of the sweep named on the command line; print its analysis and path."""
    parser = argparse.ArgumentParser(
        prog="python -m src.report",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python -m src.train -m experiment=quickstart model=unet,unetpp seed=1,2,3\n"
        "  python -m src.report outputs/multirun/<date>/<time>",
    )
    parser.add_argument(
        "sweep_dir", type=Path, help="a multirun folder, outputs/multirun/<date>/<time>/ (jobs 0/, 1/, ...)"
    )
    parser.add_argument("--out", type=Path, help="folder for the report and its PNGs (default: <sweep_dir>/report)")
    parser.add_argument("--format", choices=("md", "html"), default="md", help="report.md (default) or report.html")
    args = parser.parse_args(argv)
    try:
        path, words = write_report(args.sweep_dir, args.out, args.format)
    except ConfigError as err:
        print(f"ConfigError: {err}", file=sys.stderr)
        sys.exit(1)
    print(words.replace("`", ""))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
