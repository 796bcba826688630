"""Regenerate every paper figure from the committed results (``make figures``).

Runs each figure script of this folder on its default inputs and writes the PNGs to
``papers/figures/`` (or ``--out-dir``). A figure whose input result is missing is reported
with the command that produces it; the exit status is 1 if any figure failed. The BCF
coverage figure is drawn as well for every BCF calibration artifact whose held-out sweep
result exists (``sbc/results/<sweep>-holdout.nc``).

Usage: ``python papers/make_figures.py [--out-dir DIR]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from figure_inputs import FIGURES, REPO, SBC_RESULTS

FIGURE_SCRIPTS = (
    "coverage_vs_n",
    "speedup_vs_n",
    "policy_accuracy_by_round",
    "segment_recovery",
)
ARTIFACT_DIRS = (SBC_RESULTS, REPO / "pytyche" / "calibration" / "artifacts")


def bcf_coverage_inputs() -> list[tuple[Path, Path]]:
    """``(held-out result, artifact)`` of every BCF calibration whose held-out sweep exists.

    An artifact of sweep ``S`` (JSON in ``sbc/results/`` or bundled with the package) is
    paired with ``sbc/results/S-holdout.nc``; the conjugate check is drawn by default.
    """
    pairs: dict[str, tuple[Path, Path]] = {}
    seen: set[str] = set()
    for directory in ARTIFACT_DIRS:
        for artifact in sorted(directory.glob("*.json")):
            payload = json.loads(artifact.read_text())
            sweep = payload.get("sweep_id") if isinstance(payload, dict) else None
            if not sweep or payload.get("model") == "conjugate_normal" or sweep in seen:
                continue
            seen.add(sweep)
            holdout = SBC_RESULTS / f"{sweep}-holdout.nc"
            if holdout.is_file():
                pairs[sweep] = (holdout, artifact)
            else:
                print(f"skipped the coverage figure of {sweep}: {holdout.name} does not exist")
    return list(pairs.values())


def planned_runs(out_dir: Path) -> list[tuple[str, list[str]]]:
    """``(script, argv)`` of every figure to draw."""
    runs = [(script, ["--out-dir", str(out_dir)]) for script in FIGURE_SCRIPTS]
    for holdout, artifact in bcf_coverage_inputs():
        argv = ["--result", str(holdout), "--calibration", str(artifact), "--out-dir", str(out_dir)]
        runs.append(("coverage_vs_n", argv))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=FIGURES)
    args = parser.parse_args(argv)
    failed = []
    for script, script_argv in planned_runs(args.out_dir):
        started = time.perf_counter()
        status = importlib.import_module(script).main(script_argv)
        outcome = "ok" if status == 0 else "FAILED"
        print(f"  {script}: {outcome} ({time.perf_counter() - started:.1f} s)")
        if status != 0:
            failed.append(script)
    if failed:
        print(f"{len(failed)} figure(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
