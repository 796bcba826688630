"""NumPyro model functions of the BCF scalar parameters, the fitting problem, the registry."""

from pytyche.models.bcf import bcf_model, bcf_variances, sample_mu_leaf_var
from pytyche.models.likelihood import (
    ForestStats,
    ForestVariances,
    ZeroMeanNormalStats,
    forest_likelihood,
)
from pytyche.models.problem import BCFProblem, make_problem
from pytyche.models.registry import available_models, get_model, register_model

__all__ = [
    "BCFProblem",
    "ForestStats",
    "ForestVariances",
    "ZeroMeanNormalStats",
    "available_models",
    "bcf_model",
    "bcf_variances",
    "forest_likelihood",
    "get_model",
    "make_problem",
    "register_model",
    "sample_mu_leaf_var",
]
