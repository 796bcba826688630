"""Plots of every stage of the loop; each returns its Axes or Figure, never shows it.

All functions draw with matplotlib (seaborn palettes) on the current backend; with no
display they render on Agg. Pass ``ax``/``axes`` to draw into your own figure.
"""

from pytyche.viz.cells import plot_cells
from pytyche.viz.history import experiment_evolution_gif, plot_round_history
from pytyche.viz.policy_tree import plot_policy_tree
from pytyche.viz.sbc import coverage_table, plot_coverage, plot_rank_histogram
from pytyche.viz.segments import plot_segment_intervals

__all__ = [
    "coverage_table",
    "experiment_evolution_gif",
    "plot_cells",
    "plot_coverage",
    "plot_policy_tree",
    "plot_rank_histogram",
    "plot_round_history",
    "plot_segment_intervals",
]
