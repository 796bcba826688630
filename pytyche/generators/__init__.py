"""Data generators: simulated scenarios with sealed ground truth, and real-data adapters.

- :func:`simulated_experiment_generator` wraps a template of :data:`TEMPLATES` as the
  ``generator(round_index, plan) -> (RoundData, Truth)`` the sequential loop pulls from;
  :func:`generate_dataset` draws one dataset directly.
- :func:`dataframe_generator` / :func:`parquet_generator` hand in a real platform's rounds
  (truth ``None``); :mod:`pytyche.generators.real` documents how to write your own.
- The DGP building blocks (:mod:`~pytyche.generators.covariates`,
  :mod:`~pytyche.generators.surfaces`, :mod:`~pytyche.generators.core`) compose new
  scenarios; :func:`register_template` makes one available by name.
"""

from pytyche.generators.core import HurdleDGP, Scenario, Segmentation
from pytyche.generators.real import (
    DataFrameGenerator,
    FrameSchema,
    ParquetGenerator,
    RoundGenerator,
    dataframe_generator,
    parquet_generator,
)
from pytyche.generators.simulated import (
    SimulatedGenerator,
    generate_dataset,
    simulated_experiment_generator,
)
from pytyche.generators.templates import (
    TEMPLATES,
    clustered,
    clustered_realistic,
    constant,
    drift,
    interaction_only,
    monotone_gradient,
    nonlinear,
    null,
    register_template,
    reversal,
    sparse_benefit,
)

__all__ = [
    "TEMPLATES",
    "DataFrameGenerator",
    "FrameSchema",
    "HurdleDGP",
    "ParquetGenerator",
    "RoundGenerator",
    "Scenario",
    "Segmentation",
    "SimulatedGenerator",
    "clustered",
    "clustered_realistic",
    "constant",
    "dataframe_generator",
    "drift",
    "generate_dataset",
    "interaction_only",
    "monotone_gradient",
    "nonlinear",
    "null",
    "parquet_generator",
    "register_template",
    "reversal",
    "simulated_experiment_generator",
    "sparse_benefit",
]
