"""plot_policy_tree: rules at the splits, arm, share, stability and Thompson shares at leaves."""

import numpy as np
import pytest
from viz_testing import PLANTED

from pytyche.analysis import thompson_allocation
from pytyche.viz import plot_policy_tree
from pytyche.viz.policy_tree import LEAF_GID, SHARE_GID_PREFIX, SPLIT_GID


def texts_with_gid(ax, gid):
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


def test_planted_tree_shows_its_rules_and_leaf_evidence(segmentation, tmp_path):
    ax = plot_policy_tree(segmentation)
    assert sorted(texts_with_gid(ax, SPLIT_GID)) == sorted(
        ["visits_30d < 4", "device in {mobile}", "region in {north}"]
    )
    leaves = texts_with_gid(ax, LEAF_GID)
    assert len(leaves) == len(PLANTED) == len(segmentation.segments)
    for text, segment in zip(leaves, segmentation.segments, strict=True):
        lines = text.split("\n")
        assert lines[0] == f"S{segment.id}: serve {segment.recommended_arm}"
        assert float(lines[1].removesuffix("% of traffic")) == pytest.approx(
            100 * segment.share, abs=0.05
        )
        assert lines[2] == f"stability {segment.stability_score:.2f}"
    # Every column a segment's rule names is tested at some split on the way.
    splits = " ".join(texts_with_gid(ax, SPLIT_GID))
    for segment in segmentation.segments:
        for condition in segment.rule.conditions:
            assert condition.column in splits
    allocation = thompson_allocation(segmentation.segments)
    pieces = [p for p in ax.patches if str(p.get_gid()).startswith(SHARE_GID_PREFIX)]
    assert len(pieces) == len(segmentation.segments) * len(segmentation.arm_names)
    for piece in pieces:
        _, leaf, arm = piece.get_gid().split(":")
        assert piece.get_width() == pytest.approx(0.8 * allocation[int(leaf)][arm])
    assert "4 segments" in ax.get_title()
    ax.figure.savefig(tmp_path / "tree.png")


def test_bare_tree_has_arm_and_share_only(segmentation):
    tree = segmentation.tree
    ax = plot_policy_tree(tree)
    leaves = texts_with_gid(ax, LEAF_GID)
    assert len(leaves) == tree.n_leaves
    shares = np.bincount(segmentation.leaf_index) / len(segmentation.leaf_index)
    for leaf, text in enumerate(leaves):
        arm = tree.arm_names[tree.leaf_arms[leaf]]
        head, share = text.split("\n")
        assert head == f"S{leaf}: serve {arm}"
        assert float(share.removesuffix("% of traffic")) == pytest.approx(
            100 * shares[leaf], abs=0.05
        )
    assert not [p for p in ax.patches if str(p.get_gid()).startswith(SHARE_GID_PREFIX)]
    assert ax.get_legend() is None


def test_wrong_input_is_rejected():
    with pytest.raises(TypeError, match="plan_or_analysis must be a PolicyTree"):
        plot_policy_tree({"rules": []})
