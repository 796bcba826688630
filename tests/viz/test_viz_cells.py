"""plot_cells: one bar per cell, sized by weight, labelled with id, percent and policy."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from pytyche.experiment import ArmForRule, Cell, Control, Explore, cold_start_plan
from pytyche.viz import plot_cells

ARMS = ("control", "a", "b")


def hypothesis_plan():
    cell = Cell("hypothesis", ArmForRule("a", "visits_30d < 4 and device == 'mobile'"), 0.1)
    return cold_start_plan(ARMS, 2000).with_cell(cell, take_from="explore")


def test_plan_bars_match_cells_and_render(tmp_path):
    plan = hypothesis_plan()
    ax = plot_cells(plan)
    bars = ax.patches
    assert len(bars) == 3
    np.testing.assert_allclose([bar.get_width() for bar in bars], [0.5, 0.4, 0.1])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["control", "explore", "hypothesis"]
    texts = [t.get_text().replace("\n", " ") for t in ax.texts]
    assert texts[0] == "50%: control for everyone"
    assert texts[1] == "40%: uniform over all arms"
    assert texts[2].startswith("10%: a if visits_30d < 4")
    assert "2,000 visitors" in ax.get_title()
    assert "share" in ax.get_xlabel()
    path = tmp_path / "cells.png"
    ax.figure.savefig(path)
    with Image.open(path) as image:
        assert image.size[0] > 300 and image.size[1] > 100


def test_sequence_of_cells_on_given_axes():
    _, ax = plt.subplots()
    cells = [Cell("c", Control(), 0.2), Cell("e", Explore(), 0.8)]
    assert plot_cells(cells, ax=ax) is ax
    np.testing.assert_allclose([bar.get_width() for bar in ax.patches], [0.2, 0.8])
    # A large cell carries its label inside the bar, so it stays inside the axes.
    assert ax.texts[1].get_position()[0] < 0.8
    assert ax.get_title() == "Traffic split"


def test_bad_cells_are_rejected_with_a_named_argument():
    with pytest.raises(ValueError, match="cells_or_plan.*sum to 1"):
        plot_cells([Cell("c", Control(), 0.2)])
    with pytest.raises(TypeError, match="cells_or_plan"):
        plot_cells("control")
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_cells(hypothesis_plan(), ax="left")
