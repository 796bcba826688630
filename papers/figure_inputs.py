"""Where the paper figures read their results from, and how a missing one is reported.

Shared by the figure scripts in this folder (each is also runnable on its own).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files; never open a window

from matplotlib.figure import Figure

REPO = Path(__file__).resolve().parent.parent
SBC_RESULTS = REPO / "sbc" / "results"
EXPERIMENT_RESULTS = REPO / "experiments" / "results"
FIGURES = REPO / "papers" / "figures"
DPI = 110
"""Resolution of the PNGs (small files; vector output is one ``--format pdf`` away)."""


class MissingResultError(FileNotFoundError):
    """A figure's input result file does not exist (the message says how to produce it)."""


def require(path: Path, produced_by: str) -> Path:
    """``path`` if it is a file, else raise :class:`MissingResultError` naming the producer."""
    path = Path(path)
    if not path.is_file():
        raise MissingResultError(f"result file {path} is missing; produce it with: {produced_by}")
    return path


def run_figure(name: str, make: Callable[[], Path]) -> int:
    """Run a script's ``make``: exit status 0, or 2 with the message when an input is missing."""
    try:
        path = make()
    except MissingResultError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def read_json(path: Path, produced_by: str) -> dict:
    """Load a JSON result file (see :func:`require`)."""
    return json.loads(require(path, produced_by).read_text())


def save(figure: Figure, out_dir: Path, name: str, fmt: str = "png") -> Path:
    """Write ``figure`` to ``out_dir/name.fmt`` and close it."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.{fmt}"
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path
