"""From posterior draws to what an operator acts on: segments, decisions, allocation.

Everything here works on plain arrays of joint posterior draws, so the
:class:`~pytyche.posterior.Posterior` (and anyone with draws from another model) can call
it directly.

Input conventions
-----------------
``covariates``
    A :class:`pandas.DataFrame`, one row per visitor. Numeric columns are binned at
    quantile cuts for the tree search (at most ``max_bins`` bins; one bin per value when a
    column has few distinct values). Categorical columns are pandas ``category``,
    ``bool``, ``object`` or ``string`` columns, or numeric columns named in
    ``categorical=[...]``; rules print their labels. No missing values.
``reward_draws``
    Float array of shape ``(n_draws, n_visitors, K)``: the metric of each visitor under
    each arm (arm 0 = control) in each joint posterior draw, in outcome units (e.g.
    revenue per visitor). Row ``i`` is the covariates' row ``i``. Keep it C-contiguous:
    segment means are per-draw reductions that never copy it.
``arm_names``
    Tuple of K names, control first.
``effect_draws``
    1-D array of draws of one effect (treatment minus control), e.g. a segment GATE.

Definitions
-----------
* The policy tree maximises the summed posterior-mean reward
  ``sum_i mean_d reward[d, i, arm(i)]`` (control included) with leaves of at least
  ``min_segment_share`` of the visitors; its leaves are the segments.
* GATE of arm k in segment S, per draw: ``mean_{i in S} (reward[d, i, k] - reward[d, i, 0])``.
* P(arm best) in S: share of draws in which the arm has the highest segment-mean reward.

Modules
-------
:mod:`~pytyche.analysis.rules` (readable rules), :mod:`~pytyche.analysis.binning`,
:mod:`~pytyche.analysis.policy_tree`, :mod:`~pytyche.analysis.segments`,
:mod:`~pytyche.analysis.stability`, :mod:`~pytyche.analysis.decision`,
:mod:`~pytyche.analysis.allocation`, :mod:`~pytyche.analysis.graduation`,
:mod:`~pytyche.analysis.truth_comparison` (simulation only; the one module here that may
unseal simulation truth).
"""

from pytyche.analysis.allocation import floored_weights, thompson_allocation, thompson_weights
from pytyche.analysis.decision import (
    Decision,
    DecisionThresholds,
    RecommendationSummary,
    expected_loss,
    expected_value_of_one_more_round,
    expected_value_of_one_more_round_draws,
    recommendation_summary,
)
from pytyche.analysis.graduation import (
    ExpectedLossRule,
    GraduationCandidate,
    GraduationRule,
    PairEvidence,
    RoundEvidence,
    round_evidence,
)
from pytyche.analysis.policy_tree import PolicyTree, PolicyTreeConfig, fit_policy_tree
from pytyche.analysis.rules import Condition, SegmentRule, apply_rule, parse_rule
from pytyche.analysis.segments import (
    GateIntervalCalibrator,
    Segment,
    Segmentation,
    arm_best_probabilities,
    fit_segments,
    segment_mean_draws,
    segment_recommendations,
)
from pytyche.analysis.stability import segment_stability
from pytyche.analysis.truth_comparison import (
    TruthComparison,
    compare_segmentation_to_truth,
    compare_to_truth,
)

__all__ = [
    "Condition",
    "Decision",
    "DecisionThresholds",
    "ExpectedLossRule",
    "GateIntervalCalibrator",
    "GraduationCandidate",
    "GraduationRule",
    "PairEvidence",
    "PolicyTree",
    "PolicyTreeConfig",
    "RecommendationSummary",
    "RoundEvidence",
    "Segment",
    "SegmentRule",
    "Segmentation",
    "TruthComparison",
    "apply_rule",
    "arm_best_probabilities",
    "compare_segmentation_to_truth",
    "compare_to_truth",
    "expected_loss",
    "expected_value_of_one_more_round",
    "expected_value_of_one_more_round_draws",
    "fit_policy_tree",
    "fit_segments",
    "floored_weights",
    "parse_rule",
    "recommendation_summary",
    "round_evidence",
    "segment_mean_draws",
    "segment_recommendations",
    "segment_stability",
    "thompson_allocation",
    "thompson_weights",
]
