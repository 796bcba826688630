"""`sequential_experiment`: the adaptive multi-round loop an operator iterates.

Each ``next(exp)`` runs one round:

1. size the round from the schedule and take the pending plan (round 1: Control 50% /
   Explore 50%; later: the previous round's recommendation, or the operator's plan);
2. pull the round's data from the generator (or take the operator's data, real mode) and
   **write it to the store before anything else** (with a store);
3. fit the joint hurdle BCF to all data so far (seed derived from (seed, round));
4. discover segments with the policy tree, with GATEs, P(arm best) and stability;
5. decision evidence per (treatment, segment), including the expected value of one more
   round at the scheduled size; graduation candidates from the history;
6. drift check of the Control and Explore cells against the previous posterior;
7. in simulation, compare with the planted truth;
8. recommend the next plan — Control at its floor, Explore at its floor, the rest an
   Optimized cell routed through the tree with Thompson weights — and commit the round.

The floors hold in every round: :meth:`SequentialExperiment.set_next_plan` rejects a plan
whose Control or Explore cells fall below them.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from pytyche.analysis.convergence import warn_if_poorly_mixed
from pytyche.analysis.graduation import ExpectedLossRule, GraduationRule, round_evidence
from pytyche.analysis.policy_tree import PolicyTreeConfig
from pytyche.analysis.segments import (
    GateIntervalCalibrator,
    fit_segments,
    segment_mean_draws,
    segment_recommendations,
)
from pytyche.analysis.truth_comparison import compare_segmentation_to_truth
from pytyche.contracts import ClaimLevel, Truth, UncalibratedWarning, ensure_not_truth
from pytyche.data import CELL_COLUMN, RoundData, concat_rounds
from pytyche.experiment.cells import Cell, Control, Explore
from pytyche.experiment.config import ExperimentConfig, SeedStream
from pytyche.experiment.drift import check_drift
from pytyche.experiment.observations import observe_cells
from pytyche.experiment.optimized import Optimized
from pytyche.experiment.plan import (
    CONTROL_CELL_ID,
    EXPLORE_CELL_ID,
    NextRoundPlan,
    cold_start_plan,
)
from pytyche.experiment.rounds import GraduatingPair, Round
from pytyche.experiment.schedule import Schedule
from pytyche.experiment.summary import confidence_label, experiment_summary
from pytyche.inference import BCFConfig, fit

__all__ = [
    "OPTIMIZED_CELL_ID",
    "REAL",
    "SIMULATION",
    "SequentialExperiment",
    "check_floors",
    "sequential_experiment",
]

OPTIMIZED_CELL_ID = "optimized"
SIMULATION = "simulation"
REAL = "real"

Generator = Callable[[int, NextRoundPlan], tuple[RoundData, Truth | None]]


def sequential_experiment(
    generator: Generator | None,
    schedule: Schedule,
    treatments: tuple[str, ...] | list[str],
    *,
    min_control_weight: float = 0.05,
    min_explore_weight: float = 0.05,
    max_segment_depth: int = 3,
    calibration: GateIntervalCalibrator | None = None,
    graduation_rule: GraduationRule | None = None,
    fit_config: BCFConfig | None = None,
    seed: int = 0,
    progress: bool = False,
    store: str | Path | None = None,
    **analysis_settings: Any,
) -> SequentialExperiment:
    """Set up an adaptive sequential experiment; iterate it with ``next(exp)``.

    Parameters
    ----------
    generator : callable or None
        ``generator(round_index, plan) -> (RoundData, Truth | None)``: a simulated generator
        (returns sealed truth) or a real-data one (returns ``None``). ``None`` for a
        real-data experiment fed with :meth:`SequentialExperiment.ingest`.
    schedule : Schedule
        Round sizes (e.g. ``GeometricSchedule(initial=50_000, growth=2.0, n_rounds=3)``).
    treatments : sequence of str
        Arm names, control first; must match the generator's.
    min_control_weight, min_explore_weight : float
        Floors of the Control and Explore cells' shares in every round.
    max_segment_depth : int
        Depth of the policy tree.
    calibration : GateIntervalCalibrator, optional
        A calibration artifact that recalibrates segment GATE intervals. ``None`` (default):
        an :class:`~pytyche.contracts.UncalibratedWarning` is issued once and every summary
        and interval says uncalibrated.
    graduation_rule : GraduationRule, optional
        Default :class:`~pytyche.analysis.graduation.ExpectedLossRule`.
    fit_config : BCFConfig, optional
        Settings of each round's BCF fit (default ``BCFConfig()``).
    seed : int
        Seed of everything random (per-round seeds are derived from (seed, round)).
    progress : bool
        Show progress bars during fits.
    store : str or Path, optional
        Directory to persist the experiment in (created; must be empty or absent). Each
        round's data is written before its fit; resume with
        :func:`pytyche.experiment.load_experiment`.
    **analysis_settings
        Further :class:`~pytyche.experiment.config.ExperimentConfig` fields
        (``min_segment_share``, ``n_bootstrap``, ``max_analysis_visitors``,
        ``thompson_epsilon``, ``min_practical_effect``, ``drift_alpha``).

    Returns
    -------
    SequentialExperiment
    """
    unknown = sorted(set(analysis_settings) - _ANALYSIS_FIELDS)
    if unknown:
        raise TypeError(
            f"sequential_experiment got unexpected arguments {unknown}; analysis settings are "
            f"{sorted(_ANALYSIS_FIELDS)}"
        )
    config = ExperimentConfig(
        treatments=tuple(treatments) if not isinstance(treatments, str) else treatments,
        min_control_weight=min_control_weight,
        min_explore_weight=min_explore_weight,
        max_segment_depth=max_segment_depth,
        seed=seed,
        **analysis_settings,
    )
    experiment = SequentialExperiment(
        generator=generator,
        schedule=schedule,
        config=config,
        fit_config=fit_config,
        graduation_rule=graduation_rule,
        calibration=calibration,
        progress=progress,
    )
    if store is not None:
        experiment.save(store)
    return experiment


_ANALYSIS_FIELDS = {
    "min_segment_share",
    "n_bootstrap",
    "max_analysis_visitors",
    "thompson_epsilon",
    "min_practical_effect",
    "threshold_units",
    "drift_alpha",
}


def check_floors(plan: NextRoundPlan, config: ExperimentConfig) -> None:
    """Raise ``ValueError`` unless Control and Explore cells hold at least their floors."""
    control = sum(c.weight for c in plan.cells if isinstance(c.policy, Control))
    explore = sum(c.weight for c in plan.cells if isinstance(c.policy, Explore))
    tolerance = 1e-9
    if control + tolerance < config.min_control_weight:
        raise ValueError(
            f"plan gives Control cells {control:.4g} of traffic, below min_control_weight "
            f"{config.min_control_weight:g}; the floors hold in every round"
        )
    if explore + tolerance < config.min_explore_weight:
        raise ValueError(
            f"plan gives Explore cells {explore:.4g} of traffic, below min_explore_weight "
            f"{config.min_explore_weight:g}; the floors hold in every round"
        )


class SequentialExperiment(Iterator[Round]):
    """A running adaptive experiment (build it with :func:`sequential_experiment`).

    Iterate with ``next(exp)`` or ``for round in exp``; each step runs one round and returns
    its :class:`~pytyche.experiment.rounds.Round`. Configuration is fixed; the next round's
    plan can be replaced with :meth:`set_next_plan` between rounds.
    """

    def __init__(
        self,
        *,
        generator: Generator | None,
        schedule: Schedule,
        config: ExperimentConfig,
        fit_config: BCFConfig | None = None,
        graduation_rule: GraduationRule | None = None,
        calibration: GateIntervalCalibrator | None = None,
        progress: bool = False,
        mode: str | None = None,
    ) -> None:
        if not isinstance(config, ExperimentConfig):
            raise TypeError(f"config must be an ExperimentConfig, got {type(config).__name__}")
        if not isinstance(schedule, Schedule):
            raise TypeError(
                "schedule must have n_rounds and next_round_size(rounds_completed), e.g. "
                f"GeometricSchedule(initial, growth, n_rounds); got {type(schedule).__name__}"
            )
        if generator is not None and not callable(generator):
            raise TypeError(
                "generator must be callable as generator(round_index, plan), got "
                f"{type(generator).__name__}"
            )
        fit_config = BCFConfig() if fit_config is None else fit_config
        if not isinstance(fit_config, BCFConfig):
            raise TypeError(f"fit_config must be a BCFConfig, got {type(fit_config).__name__}")
        graduation_rule = ExpectedLossRule() if graduation_rule is None else graduation_rule
        if not isinstance(graduation_rule, GraduationRule):
            raise TypeError(
                "graduation_rule must have candidates(history, covariates), e.g. "
                f"ExpectedLossRule(); got {type(graduation_rule).__name__}"
            )
        if calibration is not None and not (
            _is_calibration_artifact(calibration) or isinstance(calibration, GateIntervalCalibrator)
        ):
            raise TypeError(
                "calibration must be a pytyche.calibration.Calibration (or an object with "
                "claim_level and interval(gate_draws, level, n_visitors)), or None for "
                f"uncalibrated; got {type(calibration).__name__}"
            )
        if calibration is not None and hasattr(calibration, "check_config"):
            calibration.check_config(fit_config)  # warns if fitted for other fit settings
        _check_generator_arms(generator, config.treatments)
        self.config = config
        self.schedule = schedule
        self.fit_config = fit_config
        self.graduation_rule = graduation_rule
        self.calibration = calibration
        self.progress = bool(progress)
        self._generator = generator
        self._mode = mode if mode is not None else _generator_mode(generator)
        self._history: list[Round] = []
        self._evidence: list = []
        self._rounds_data: list[RoundData] = []
        self._truths: list[Truth | None] = []
        self._next_plan: NextRoundPlan | None = None
        self._warned = False
        self._store: Any = None
        self._frame_cache: tuple[int, pd.DataFrame] | None = None

    # ---------------------------------------------------------------- iteration
    def __iter__(self) -> SequentialExperiment:
        return self

    def __next__(self) -> Round:
        if self.finished:
            raise StopIteration
        return self.advance()

    @property
    def finished(self) -> bool:
        """Whether the schedule has no further round."""
        return self.schedule.next_round_size(len(self._history)) is None

    @property
    def mode(self) -> str | None:
        """``"simulation"``, ``"real"``, or None until the first round shows which."""
        return self._mode

    @property
    def generator(self) -> Generator | None:
        """The generator rounds are pulled from."""
        return self._generator

    def advance(self) -> Round:
        """Run the next round with data from the generator (see the module docstring)."""
        index = len(self._history)
        plan = self._plan_for(index)
        pending = None if self._store is None else self._store.pending_round(index)
        if pending is not None:
            data, truth = pending  # written before an interrupted fit: reuse, never re-pull
        else:
            if self._generator is None:
                raise RuntimeError(
                    "this experiment has no generator: pass the round's data to "
                    "exp.ingest(data), or load it with load_experiment(path, generator=...)"
                )
            data, truth = self._generator(index, plan)
        return self._run_round(index, plan, data, truth, from_store=pending is not None)

    def ingest(self, data: RoundData) -> Round:
        """Run the next round on the operator's data (real-data mode).

        Parameters
        ----------
        data : RoundData
            The round's visitors, served by the pending plan's cells (``cell`` column) with
            recorded propensities.
        """
        ensure_not_truth(data, "data")
        if self._mode == SIMULATION:
            raise ValueError(
                "this is a simulation experiment: its rounds come from the generator; "
                "simulation and real-data rounds cannot be mixed"
            )
        if self.finished:
            raise ValueError("the schedule is complete: no further round to ingest")
        index = len(self._history)
        plan = self._plan_for(index)
        return self._run_round(index, plan, data, None, from_store=False)

    # ---------------------------------------------------------------- planning
    def _plan_for(self, index: int) -> NextRoundPlan:
        size = self.schedule.next_round_size(index)
        if size is None:
            raise StopIteration
        if self._next_plan is not None:
            return self._next_plan
        return cold_start_plan(self.config.treatments, size)

    @property
    def next_recommendation(self) -> NextRoundPlan:
        """The plan the next round will run unless replaced (:meth:`set_next_plan`)."""
        if self._next_plan is not None:
            return self._next_plan
        size = self.schedule.next_round_size(len(self._history))
        if size is None:
            return self._history[-1].next_recommendation
        return cold_start_plan(self.config.treatments, size)

    def set_next_plan(self, plan: NextRoundPlan) -> None:
        """Replace the next round's plan (accept, override or add a hypothesis cell).

        The plan must use the experiment's arms and keep the Control and Explore floors.
        """
        if not isinstance(plan, NextRoundPlan):
            raise TypeError(f"plan must be a NextRoundPlan, got {type(plan).__name__}")
        if tuple(plan.treatments) != self.config.treatments:
            raise ValueError(
                f"plan.treatments {list(plan.treatments)} differ from the experiment's "
                f"{list(self.config.treatments)}"
            )
        check_floors(plan, self.config)
        if self._store is not None:
            self._store.check_storable(plan)
            if self._store.pending_round(len(self._history)) is not None:
                raise ValueError(
                    f"round {len(self._history)}'s data is already stored (its fit was "
                    "interrupted); run next(exp) to finish it before changing the plan"
                )
        self._next_plan = plan
        if self._store is not None:
            self._store.write_state(self)

    # ---------------------------------------------------------------- one round
    def _run_round(
        self,
        index: int,
        plan: NextRoundPlan,
        data: RoundData,
        truth: Truth | None,
        *,
        from_store: bool,
    ) -> Round:
        self._check_round_input(index, plan, data, truth)
        if self._store is not None and not from_store:
            self._store.write_round_input(index, plan, data, truth)
        self._warn_uncalibrated()
        cumulative = concat_rounds([*self._rounds_data, data])
        truths = [*self._truths, truth]
        posterior = fit(
            cumulative,
            config=self.fit_config,
            seed=self.config.seed_for(index, SeedStream.FIT),
            progress=self.progress,
            check_mixing=False,  # the round checks the ATEs and its segments' GATEs
        )
        result = self._analyse(index, plan, data, cumulative, truths, posterior)
        previous_latest = self._history[-1] if self._history else None
        if previous_latest is not None:
            # Only the latest round keeps its (large) posterior in memory.
            self._history[-1] = dataclasses.replace(previous_latest, posterior=None)
        self._history.append(result)
        self._rounds_data.append(data)
        self._truths.append(truth)
        self._next_plan = result.next_recommendation
        if self._store is not None:
            self._store.write_round_result(result)
            self._store.write_state(self)
        return result

    def _check_round_input(
        self, index: int, plan: NextRoundPlan, data: RoundData, truth: Truth | None
    ) -> None:
        if not isinstance(data, RoundData):
            raise TypeError(
                f"round {index}: the generator must return a RoundData, got {type(data).__name__}"
            )
        if data.arms != self.config.treatments:
            raise ValueError(
                f"round {index}: data arms {list(data.arms)} differ from the experiment's "
                f"treatments {list(self.config.treatments)}"
            )
        mode = REAL if truth is None else SIMULATION
        if truth is not None and not isinstance(truth, Truth):
            raise TypeError(f"round {index}: truth must be a Truth or None")
        if self._mode is not None and mode != self._mode:
            raise ValueError(
                f"round {index} is {mode} data but this is a {self._mode} experiment; "
                "simulation and real-data rounds cannot be mixed in one experiment"
            )
        self._mode = mode
        if data.cell is None:
            raise ValueError(
                f"round {index}: data has no {CELL_COLUMN!r} column; record the cell that "
                "served each visitor"
            )
        unknown = sorted(set(map(str, data.cell)) - set(plan.cell_ids))
        if unknown:
            raise ValueError(
                f"round {index}: data names cells {unknown} that are not in the plan "
                f"{list(plan.cell_ids)}"
            )
        if data.propensity is None:
            raise ValueError(
                f"round {index}: data has no propensity_<arm> columns; adaptive rounds need "
                "the recorded assignment probabilities"
            )
        if self._rounds_data:
            first = self._rounds_data[0]
            if data.covariates != first.covariates or data.outcome != first.outcome:
                raise ValueError(
                    f"round {index}: covariates {list(data.covariates)} / outcome "
                    f"{data.outcome!r} differ from round 0's {list(first.covariates)} / "
                    f"{first.outcome!r}"
                )
        if mode == SIMULATION and data.id_column is None:
            raise ValueError(f"round {index}: simulated data needs a visitor id column")

    def _warn_uncalibrated(self) -> None:
        if self.calibration is None and not self._warned:
            warnings.warn(
                "no calibration artifact: posterior intervals are uncalibrated (typically "
                "overconfident at scale); every summary and interval is labelled "
                "'uncalibrated posterior'",
                UncalibratedWarning,
                stacklevel=4,
            )
            self._warned = True

    def _analyse(
        self,
        index: int,
        plan: NextRoundPlan,
        data: RoundData,
        cumulative: RoundData,
        truths: list[Truth | None],
        posterior: Any,
    ) -> Round:
        config = self.config
        rows = _analysis_rows(
            cumulative.n_visitors,
            config.max_analysis_visitors,
            config.seed_for(index, SeedStream.SUBSAMPLE),
        )
        draws = np.ascontiguousarray(posterior.reward_draws(visitors=rows))
        if not np.all(np.isfinite(draws)):
            bad = int(np.sum(~np.isfinite(draws)))
            raise RuntimeError(
                f"round {index}: the fit returned {bad:,} non-finite reward draws of "
                f"{draws.size:,} (a diverged sampler); the round's data is stored, so "
                "the round can be rerun with another fit_config after load_experiment"
            )
        covariates = cumulative.frame.loc[rows, list(cumulative.covariates)].reset_index(drop=True)
        segmentation = fit_segments(
            covariates,
            draws,
            config.treatments,
            config=PolicyTreeConfig(
                max_depth=config.max_segment_depth, min_segment_share=config.min_segment_share
            ),
            n_bootstrap=config.n_bootstrap,
            seed=config.seed_for(index, SeedStream.BOOTSTRAP),
            calibrator=_gate_calibrator(self.calibration, cumulative),
        )
        next_size = self.schedule.next_round_size(index + 1)
        exhausted = next_size is None
        next_size = data.n_visitors if next_size is None else next_size
        recommendations = segment_recommendations(
            segmentation,
            draws,
            min_practical_effect=config.min_practical_effect,
            units=config.threshold_units,
            information_ratio=next_size / cumulative.n_visitors,
            seed=config.seed_for(index, SeedStream.DECISION),
        )
        evidence = round_evidence(index, segmentation, recommendations)
        self._evidence = [*self._evidence[:index], evidence]
        candidates = self._candidates(self.graduation_rule, covariates, index)
        segment_draws = segment_mean_draws(
            draws, segmentation.leaf_index, len(segmentation.segments)
        )
        claim = ClaimLevel.POSTERIOR if self.calibration is None else ClaimLevel.CALIBRATED
        truth_comparison = None
        if truths[-1] is not None:
            cumulative_truth = truths[0]
            for t in truths[1:]:
                cumulative_truth = cumulative_truth + t
            truth_comparison = compare_segmentation_to_truth(
                cumulative_truth,
                segmentation,
                draws,
                visitor_id=cumulative.visitor_id[rows],
            )
        result = Round(
            index=index,
            n_rounds=self.schedule.n_rounds,
            plan=plan,
            data=data,
            cumulative_visitors=cumulative.n_visitors,
            observations=observe_cells(data, control_cell=_control_cell_id(plan, data)),
            posterior=posterior,
            posterior_summary=_posterior_summary(posterior, segmentation, segment_draws, claim),
            analysis=segmentation,
            recommendations=recommendations,
            graduation=candidates,
            drift=self._drift(plan, data),
            truth_comparison=truth_comparison,
            next_recommendation=self._recommend(segmentation, next_size),
            schedule_exhausted=exhausted,
            interval_claim=claim,
            seeds={stream.name.lower(): config.seed_for(index, stream) for stream in SeedStream},
            analysis_rows=rows,
        )
        warn_if_poorly_mixed(result.mixing(), f"round {index + 1}", stacklevel=4)
        return result

    def _candidates(
        self, rule: GraduationRule, covariates: pd.DataFrame, index: int
    ) -> tuple[GraduatingPair, ...]:
        found = rule.candidates(self._evidence[: index + 1], covariates)
        return tuple(
            GraduatingPair(
                treatment=c.treatment,
                rule=c.rule,
                round_index=c.round_index,
                rounds_sustained=c.rounds_sustained,
                latest_recommendation=c.summary,
                matched_rules=c.matched_rules,
            )
            for c in found
        )

    def _drift(self, plan: NextRoundPlan, data: RoundData):
        if not self._history:
            return None
        previous = self._history[-1]
        floor_ids = {c.id for c in plan.cells if isinstance(c.policy, Control | Explore)}
        in_floor = np.isin(data.cell.astype(str), sorted(floor_ids))
        segment_draws = previous.posterior_summary["posterior"]["segment_reward"].values
        return check_drift(
            data.frame[list(data.covariates)],
            data.y,
            data.arm_index,
            in_floor,
            [str(s.rule) for s in previous.analysis.segments],
            segment_draws.reshape(-1, *segment_draws.shape[2:]),
            self.config.treatments,
            alpha=self.config.drift_alpha,
            claim_level=previous.interval_claim,
        )

    def _recommend(self, segmentation, n_visitors: int) -> NextRoundPlan:
        config = self.config
        cells = [
            Cell(CONTROL_CELL_ID, Control(), config.min_control_weight),
            Cell(EXPLORE_CELL_ID, Explore(), config.min_explore_weight),
        ]
        if config.optimized_weight > 0:
            policy = Optimized.from_segmentation(segmentation, epsilon=config.thompson_epsilon)
            cells.append(Cell(OPTIMIZED_CELL_ID, policy, config.optimized_weight))
        cells = [c for c in cells if c.weight > 0]
        total = sum(c.weight for c in cells)
        if abs(total - 1.0) > 1e-12:  # floors summing to < 1 with no Optimized cell
            cells = [dataclasses.replace(c, weight=c.weight / total) for c in cells]
        return NextRoundPlan(n_visitors, tuple(cells), config.treatments)

    # ---------------------------------------------------------------- accessors
    @property
    def history(self) -> tuple[Round, ...]:
        """Completed rounds, oldest first."""
        return tuple(self._history)

    @property
    def latest(self) -> Round | None:
        """The latest completed round (None before round 1)."""
        return self._history[-1] if self._history else None

    def has_credible_segments(self) -> bool:
        """Whether the latest round has a segment with stability score >= 0.80."""
        return self.latest is not None and bool(self.latest.credible_segments)

    def has_graduation_candidate(self) -> bool:
        """Whether any (treatment, segment) pair is ready to ship (default rule settings)."""
        return bool(self.graduation_candidates())

    def graduation_candidates(self, sustained_rounds: int | None = None) -> tuple:
        """(treatment, segment) pairs meeting the graduation rule at the latest round.

        Parameters
        ----------
        sustained_rounds : int, optional
            Consecutive rounds the rule must hold; defaults to the rule's own setting
            (2 for the default ``ExpectedLossRule``).

        Returns
        -------
        tuple of GraduatingPair
            Each with ``latest_recommendation`` (the decision evidence, including the
            expected value of one more round).
        """
        latest = self.latest
        if latest is None:
            return ()
        rule = self.graduation_rule
        if sustained_rounds is not None:
            if not hasattr(rule, "sustained_rounds"):
                raise ValueError(
                    f"graduation rule {type(rule).__name__} has no sustained_rounds setting"
                )
            rule = dataclasses.replace(rule, sustained_rounds=sustained_rounds)
        return self._candidates(rule, self._analysis_frame(), latest.index)

    def _analysis_frame(self) -> pd.DataFrame:
        """Covariates the latest round's segments were fitted on (rules are matched on it)."""
        latest = self._history[-1]
        if self._frame_cache is None or self._frame_cache[0] != latest.index:
            cumulative = concat_rounds(self._rounds_data)
            frame = cumulative.frame.loc[latest.analysis_rows, list(cumulative.covariates)]
            self._frame_cache = (latest.index, frame.reset_index(drop=True))
        return self._frame_cache[1]

    @property
    def summary(self) -> str:
        """Multi-paragraph prose summary of the latest round (deterministic templates)."""
        return experiment_summary(
            self._history, self.graduation_candidates(), simulated=self._mode == SIMULATION
        )

    @property
    def confidence(self) -> str:
        """``"high"``, ``"medium"`` or ``"low"`` (see :mod:`pytyche.experiment.summary`)."""
        return confidence_label(self.latest, self.graduation_candidates())

    @property
    def cumulative_data(self) -> RoundData | None:
        """All rounds' data concatenated (None before round 1)."""
        return concat_rounds(self._rounds_data) if self._rounds_data else None

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> None:
        """Write the whole experiment to the directory ``path`` and keep it there.

        Later rounds are persisted to the same directory as they run.
        """
        from pytyche.experiment.store import ExperimentStore

        store = ExperimentStore.create(Path(path), self)
        store.write_all(self)
        self._store = store

    @property
    def store_path(self) -> Path | None:
        """The directory this experiment persists to (None without a store)."""
        return None if self._store is None else self._store.path

    def __repr__(self) -> str:
        rounds = self.schedule.n_rounds
        return (
            f"SequentialExperiment({len(self._history)}/{rounds if rounds else '?'} rounds, "
            f"arms {list(self.config.treatments)}, mode {self._mode or 'undetermined'}, "
            f"{'calibrated' if self.calibration is not None else 'uncalibrated'})"
        )


# -------------------------------------------------------------------- helpers
def _generator_mode(generator: Generator | None) -> str | None:
    simulated = getattr(generator, "simulated", None)
    if simulated is None:
        return None
    return SIMULATION if simulated else REAL


def _check_generator_arms(generator: Generator | None, treatments: tuple[str, ...]) -> None:
    arms = getattr(generator, "treatments", None)
    if arms is not None and tuple(arms) != treatments:
        raise ValueError(
            f"treatments {list(treatments)} differ from the generator's arms {list(arms)}"
        )


def _is_calibration_artifact(calibration: Any) -> bool:
    return hasattr(calibration, "calibrated_interval") and hasattr(calibration, "check")


@dataclasses.dataclass(frozen=True)
class _ScaledCalibration:
    """A :class:`pytyche.calibration.Calibration` applied at the fit's scale n.

    The artifact's correction depends on the size of the data the posterior was fitted on
    (the cumulative visitors), not on the size of a segment.
    """

    calibration: Any
    n_visitors: int

    @property
    def claim_level(self) -> ClaimLevel:
        return ClaimLevel.CALIBRATED

    def interval(self, gate_draws: np.ndarray, level: float, n_visitors: int) -> tuple:
        low, high = self.calibration.calibrated_interval(gate_draws, self.n_visitors, level)
        return float(low), float(high)


def _gate_calibrator(calibration: Any, cumulative: RoundData) -> GateIntervalCalibrator | None:
    if calibration is None or not _is_calibration_artifact(calibration):
        return calibration
    n = calibration.check(cumulative)  # raises when fitted for another regime
    return _ScaledCalibration(calibration, int(n))


def _analysis_rows(n_visitors: int, limit: int, seed: int) -> np.ndarray:
    """Sorted positions of the analysis subsample (all rows when ``n <= limit``)."""
    if n_visitors <= limit:
        return np.arange(n_visitors)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_visitors, size=limit, replace=False))


def _control_cell_id(plan: NextRoundPlan, data: RoundData) -> str:
    served = set(map(str, data.cell))
    for cell in plan.cells:
        if isinstance(cell.policy, Control) and cell.id in served:
            return cell.id
    raise ValueError(
        "no Control cell served visitors this round; the Control floor must serve traffic"
    )


def _posterior_summary(
    posterior: Any, segmentation, segment_draws: np.ndarray, claim: ClaimLevel
) -> xr.DataTree:
    """Segment-level draws (plus the fit's scalar sites and diagnostics) as a DataTree."""
    arms = list(segmentation.arm_names)
    # reward draws are chain-major: keep the chains apart so mixing can be diagnosed
    chains = int(getattr(posterior, "num_chains", 1))
    if segment_draws.shape[0] % chains:
        chains = 1
    n_draws = segment_draws.shape[0] // chains
    reward = segment_draws.reshape(chains, n_draws, *segment_draws.shape[1:])
    dataset = xr.Dataset(
        {
            "segment_reward": (("chain", "draw", "segment", "arm_all"), reward),
            "gate": (
                ("chain", "draw", "segment", "arm"),
                reward[..., 1:] - reward[..., :1],
            ),
        },
        coords={
            "chain": np.arange(chains),
            "draw": np.arange(n_draws),
            "segment": np.arange(len(segmentation.segments)),
            "arm_all": arms,
            "arm": arms[1:],
            "rule": ("segment", [str(s.rule) for s in segmentation.segments]),
        },
        attrs={"claim_level": claim.value},
    )
    tree = xr.DataTree(dataset=None, name="round")
    tree["posterior"] = xr.DataTree(dataset)
    datatree = getattr(posterior, "to_datatree", None)
    if datatree is not None:
        fitted = datatree()
        for group in ("posterior", "sample_stats"):
            if group in fitted.children:
                tree[f"fit_{group}"] = xr.DataTree(fitted[group].to_dataset())
    tree.attrs["claim_level"] = claim.value
    return tree
