"""Classic experimentation toolkit: the vanilla baselines pytyche is compared with.

Randomisation and balance, power and sample size, Welch and proportion tests, CUPED,
regression estimators (OLS, IPW, 2SLS), always-valid sequential tests, meta-learners for
heterogeneous effects with targeting curves, and a simulated teaching population whose
causal structure is known. Every number these functions report is computed from observed
data (:attr:`pytyche.contracts.ClaimLevel.OBSERVED`).
"""

import importlib
from typing import Any

# Exports load on first use: statsmodels and scikit-learn cost seconds to import, and most
# pytyche sessions never touch the classic toolkit.
_EXPORTS = {
    "CupedResult": "results",
    "EffectEstimate": "results",
    "InstrumentalResult": "results",
    "MetaLearnerFit": "metalearners",
    "PopulationParameters": "population",
    "SEGMENTS": "population",
    "SampleRatioResult": "results",
    "SequentialResult": "sequential",
    "always_valid_inference": "sequential",
    "assign_global": "randomization",
    "assign_stratified": "randomization",
    "balance_table": "randomization",
    "cate_by_cohort": "targeting",
    "cate_heatmap": "targeting",
    "cuped_adjust": "cuped",
    "cuped_test": "cuped",
    "cuped_theta": "cuped",
    "estimates_table": "results",
    "fit_s_learner": "metalearners",
    "fit_t_learner": "metalearners",
    "fit_x_learner": "metalearners",
    "ipw_effect": "regression",
    "ipw_two_stage_least_squares": "instrumental",
    "mde_means": "power",
    "mde_proportions": "power",
    "ols_effect": "regression",
    "power_means": "power",
    "power_proportions": "power",
    "propensity_scores": "regression",
    "proportion_test": "hypothesis_tests",
    "roi_curve": "targeting",
    "sample_ratio_mismatch": "randomization",
    "sample_size_means": "power",
    "sample_size_proportions": "power",
    "selection_weights": "regression",
    "simulate_instrumented_population": "population",
    "simulated_power": "power",
    "two_stage_least_squares": "instrumental",
    "welch_t_test": "hypothesis_tests",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"pytyche.classic.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pytyche.classic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "SEGMENTS",
    "CupedResult",
    "EffectEstimate",
    "InstrumentalResult",
    "MetaLearnerFit",
    "PopulationParameters",
    "SampleRatioResult",
    "SequentialResult",
    "always_valid_inference",
    "assign_global",
    "assign_stratified",
    "balance_table",
    "cate_by_cohort",
    "cate_heatmap",
    "cuped_adjust",
    "cuped_test",
    "cuped_theta",
    "estimates_table",
    "fit_s_learner",
    "fit_t_learner",
    "fit_x_learner",
    "ipw_effect",
    "ipw_two_stage_least_squares",
    "mde_means",
    "mde_proportions",
    "ols_effect",
    "power_means",
    "power_proportions",
    "propensity_scores",
    "proportion_test",
    "roi_curve",
    "sample_ratio_mismatch",
    "sample_size_means",
    "sample_size_proportions",
    "selection_weights",
    "simulate_instrumented_population",
    "simulated_power",
    "two_stage_least_squares",
    "welch_t_test",
]
