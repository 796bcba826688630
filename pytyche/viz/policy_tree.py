"""The policy tree drawn as a diagram: rules at the splits, evidence at the leaves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from pytyche.analysis.allocation import thompson_weights
from pytyche.analysis.policy_tree import PolicyLeaf, PolicySplit, PolicyTree
from pytyche.analysis.segments import Segment, Segmentation
from pytyche.experiment.optimized import Optimized
from pytyche.experiment.plan import NextRoundPlan
from pytyche.experiment.rounds import Round
from pytyche.viz._style import arm_colours, new_axes, percent, wrap

__all__ = [
    "LeafSummary",
    "leaf_summaries",
    "optimized_cell",
    "plot_policy_tree",
    "shipped_shares",
]

SPLIT_GID = "policy-tree-split"
"""``gid`` of the text artist of every split (internal node)."""
LEAF_GID = "policy-tree-leaf"
"""``gid`` of the text artist of every leaf."""
SHARE_GID_PREFIX = "thompson-share"
"""``gid`` prefix of the Thompson-share bar pieces: ``thompson-share:<leaf>:<arm>``."""

_BAR_WIDTH = 0.8
_BAR_HEIGHT = 0.14


@dataclass(frozen=True)
class LeafSummary:
    """What a leaf of the diagram shows.

    Attributes
    ----------
    leaf_id : int
        Segment id.
    recommended_arm : str
        Arm the tree serves in the leaf.
    share : float
        Share of the fitting visitors in the leaf.
    thompson_shares : dict or None
        Thompson allocation weight of each arm (None when only the bare tree is known).
    stability_score : float or None
        Bootstrap stability of the segment (None when not available).
    rule : str or None
        The segment rule, shown at the leaf when the tree's splits are not known (a plan's
        Optimized cell keeps only its leaves' rules).
    """

    leaf_id: int
    recommended_arm: str
    share: float | None
    thompson_shares: dict[str, float] | None
    stability_score: float | None
    rule: str | None = None


def leaf_summaries(
    tree_or_segmentation: PolicyTree | Segmentation,
    *,
    thompson_shares: Sequence[Mapping[str, float]] | None = None,
) -> tuple[PolicyTree, tuple[LeafSummary, ...]]:
    """The tree and one :class:`LeafSummary` per leaf, by leaf id.

    From a :class:`Segmentation` the leaves carry stability and Thompson shares: the given
    ``thompson_shares`` (one mapping per segment, e.g. the weights a plan ships) or else
    :func:`pytyche.analysis.allocation.thompson_weights` with its default floor. From a
    bare :class:`PolicyTree` only the arm and the share of the fitting visitors are known.
    """
    if isinstance(tree_or_segmentation, Segmentation):
        segments = tree_or_segmentation.segments
        if thompson_shares is None:
            thompson_shares = [thompson_weights(s) for s in segments]
        leaves = tuple(
            _from_segment(s, shares) for s, shares in zip(segments, thompson_shares, strict=True)
        )
        return tree_or_segmentation.tree, leaves
    if isinstance(tree_or_segmentation, PolicyTree):
        tree = tree_or_segmentation
        counts = np.bincount(tree.route_codes(tree.encoding.codes), minlength=tree.n_leaves)
        shares = counts / counts.sum()
        leaves = tuple(
            LeafSummary(leaf, tree.arm_names[arm], float(shares[leaf]), None, None)
            for leaf, arm in enumerate(tree.leaf_arms)
        )
        return tree, leaves
    raise TypeError(
        "plan_or_analysis must be a PolicyTree, a Segmentation (fit_segments), a Round or a "
        f"plan with an Optimized cell, got {type(tree_or_segmentation).__name__}"
    )


def shipped_shares(completed: Round) -> list[Mapping[str, float]] | None:
    """Thompson weights the round's recommended plan serves per segment, by segment id.

    None when the plan has no Optimized cell built from this round's segments.
    """
    try:
        _, _, policy = optimized_cell(completed.next_recommendation)
    except ValueError:
        return None
    rules = [str(s.rule) for s in completed.analysis.segments]
    if [s.rule for s in policy.segments] != rules:
        return None
    return [s.weights for s in policy.segments]


def _from_segment(segment: Segment, shares: Mapping[str, float]) -> LeafSummary:
    return LeafSummary(
        segment.id, segment.recommended_arm, segment.share, dict(shares), segment.stability_score
    )


TreeSource = PolicyTree | Segmentation | Round | NextRoundPlan


def plot_policy_tree(plan_or_analysis: TreeSource, ax: Axes | None = None) -> Axes:
    """Draw a policy tree: split rules at internal nodes, evidence at the leaves.

    Each internal node shows the condition that sends visitors to its left child ("yes")
    rather than its right child ("no"). Each leaf shows its segment id, the recommended
    arm, its share of the visitors and, when known, its bootstrap stability, above a
    stacked bar of the Thompson shares the next round serves in that segment.

    A plan keeps only the leaves of its Optimized cell (rules and Thompson weights), not
    the splits, so for a plan the leaves hang from one node and show their rules; traffic
    shares and stability are not part of a plan (draw the round's analysis for them).

    Parameters
    ----------
    plan_or_analysis : PolicyTree, Segmentation, Round or NextRoundPlan
        A fitted tree (:func:`pytyche.analysis.policy_tree.fit_policy_tree`), segments
        (:func:`pytyche.analysis.segments.fit_segments`, which add Thompson shares and
        stability), a completed :class:`~pytyche.experiment.rounds.Round` (its analysis,
        with the Thompson shares its recommended plan ships) or a plan with an
        :class:`~pytyche.experiment.optimized.Optimized` cell.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure by default.

    Returns
    -------
    matplotlib.axes.Axes
        Split texts have ``gid`` :data:`SPLIT_GID`, leaf texts :data:`LEAF_GID`, share bar
        pieces ``"thompson-share:<leaf>:<arm>"``.
    """
    shares = None
    if isinstance(plan_or_analysis, Round):
        shares = shipped_shares(plan_or_analysis)
        plan_or_analysis = plan_or_analysis.analysis
    if isinstance(plan_or_analysis, NextRoundPlan):
        return _plot_plan_leaves(plan_or_analysis, ax)
    tree, leaves = leaf_summaries(plan_or_analysis, thompson_shares=shares)
    depth = _depth(tree.root)
    ax = new_axes(ax, figsize=(max(6.0, 2.3 * tree.n_leaves), 1.5 + 1.3 * (depth + 1)))
    colours = arm_colours(tree.arm_names)
    _draw_node(ax, tree, tree.root, 0, depth, leaves, colours)
    _finish(ax, tree.n_leaves, depth, leaves, colours)
    ax.set_title(f"Policy tree: {tree.n_leaves} segments over arms {', '.join(tree.arm_names)}")
    return ax


def optimized_cell(plan: NextRoundPlan) -> tuple[str, float, Optimized]:
    """``(cell id, weight, policy)`` of the plan's Optimized cell (ValueError if none)."""
    for cell in plan.cells:
        if isinstance(cell.policy, Optimized):
            return cell.id, cell.weight, cell.policy
    raise ValueError(
        f"plan has no Optimized (policy-tree) cell to draw; its cells are {list(plan.cell_ids)} "
        "(a cold-start plan has none: draw a round's analysis instead)"
    )


def _plot_plan_leaves(plan: NextRoundPlan, ax: Axes | None) -> Axes:
    cell_id, weight, policy = optimized_cell(plan)
    leaves = tuple(
        LeafSummary(
            leaf_id=i,
            recommended_arm=max(s.weights, key=lambda arm: s.weights[arm]),
            share=None,
            thompson_shares={arm: s.weights.get(arm, 0.0) for arm in plan.treatments},
            stability_score=None,
            rule=s.rule,
        )
        for i, s in enumerate(policy.segments)
    )
    ax = new_axes(ax, figsize=(max(6.0, 2.6 * len(leaves)), 4.2))
    colours = arm_colours(plan.treatments)
    root_x = (len(leaves) - 1) / 2.0
    for leaf in leaves:
        ax.add_line(
            Line2D([root_x, leaf.leaf_id], [0.0, -1.0], color="grey", linewidth=1, zorder=1)
        )
        _draw_leaf(ax, leaf, float(leaf.leaf_id), -1.0, colours)
    ax.text(
        root_x,
        0.0,
        f"{cell_id} cell: {percent(weight)} of traffic",
        fontsize=9,
        ha="center",
        va="center",
        gid=SPLIT_GID,
        bbox={"boxstyle": "round,pad=0.4", "facecolor": "#eaf2f8", "edgecolor": "#5d6d7e"},
        zorder=3,
    )
    _finish(ax, len(leaves), 1, leaves, colours)
    ax.set_title(
        f"Plan's policy-tree segments ({len(leaves)}) over arms {', '.join(plan.treatments)}"
    )
    return ax


def _finish(
    ax: Axes, n_leaves: int, depth: int, leaves: tuple[LeafSummary, ...], colours: dict
) -> None:
    ax.set_xlim(-0.55, n_leaves - 0.45)
    ax.set_ylim(-depth - 0.75, 0.4)
    ax.set_axis_off()
    if any(leaf.thompson_shares is not None for leaf in leaves):
        handles = [Patch(color=colour, label=arm) for arm, colour in colours.items()]
        ax.legend(
            handles=handles,
            title="Thompson share per arm",
            loc="upper left",
            fontsize=8,
            title_fontsize=8,
            frameon=False,
        )


def _depth(node: PolicyLeaf | PolicySplit) -> int:
    if isinstance(node, PolicyLeaf):
        return 0
    return 1 + max(_depth(node.left), _depth(node.right))


def _draw_node(
    ax: Axes,
    tree: PolicyTree,
    node: PolicyLeaf | PolicySplit,
    level: int,
    depth: int,
    leaves: tuple[LeafSummary, ...],
    colours: dict,
) -> tuple[float, float]:
    """Draw the subtree at ``node``; returns its anchor (x, y). Leaves sit in id order."""
    if isinstance(node, PolicyLeaf):
        x, y = float(node.leaf_id), float(-depth)
        _draw_leaf(ax, leaves[node.leaf_id], x, y, colours)
        return x, y
    left = _draw_node(ax, tree, node.left, level + 1, depth, leaves, colours)
    right = _draw_node(ax, tree, node.right, level + 1, depth, leaves, colours)
    x, y = (left[0] + right[0]) / 2.0, float(-level)
    for (child_x, child_y), answer in ((left, "yes"), (right, "no")):
        ax.add_line(Line2D([x, child_x], [y, child_y], color="grey", linewidth=1, zorder=1))
        ax.text(
            (x + child_x) / 2.0,
            (y + child_y) / 2.0,
            answer,
            fontsize=8,
            ha="center",
            va="center",
            color="dimgrey",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            zorder=2,
        )
    condition, _ = tree.encoding.columns[node.column].conditions(node.split)
    ax.text(
        x,
        y,
        str(condition),
        fontsize=9,
        ha="center",
        va="center",
        gid=SPLIT_GID,
        bbox={"boxstyle": "round,pad=0.4", "facecolor": "#eaf2f8", "edgecolor": "#5d6d7e"},
        zorder=3,
    )
    return x, y


def _draw_leaf(ax: Axes, leaf: LeafSummary, x: float, y: float, colours: dict) -> None:
    lines = [f"S{leaf.leaf_id}: serve {leaf.recommended_arm}"]
    if leaf.rule is not None:
        lines.insert(0, wrap(leaf.rule, 22))
    if leaf.share is not None:
        lines.append(f"{percent(leaf.share)} of traffic")
    if leaf.stability_score is not None:
        lines.append(f"stability {leaf.stability_score:.2f}")
    ax.text(
        x,
        y,
        "\n".join(lines),
        fontsize=8,
        ha="center",
        va="center",
        gid=LEAF_GID,
        bbox={
            "boxstyle": "round,pad=0.4",
            "facecolor": "white",
            "edgecolor": colours[leaf.recommended_arm],
            "linewidth": 2,
        },
        zorder=3,
    )
    if leaf.thompson_shares is None:
        return
    left = x - _BAR_WIDTH / 2.0
    bottom = y - 0.42 - _BAR_HEIGHT / 2.0
    for arm, share in leaf.thompson_shares.items():
        ax.add_patch(
            Rectangle(
                (left, bottom),
                _BAR_WIDTH * share,
                _BAR_HEIGHT,
                facecolor=colours[arm],
                edgecolor="white",
                linewidth=0.5,
                gid=f"{SHARE_GID_PREFIX}:{leaf.leaf_id}:{arm}",
            )
        )
        if share >= 0.2:
            ax.text(
                left + _BAR_WIDTH * share / 2.0,
                bottom + _BAR_HEIGHT / 2.0,
                f"{share:.0%}",
                fontsize=7,
                ha="center",
                va="center",
                color="white",
            )
        left += _BAR_WIDTH * share
