"""Persistence: an experiment as a directory that survives a killed process.

Layout of a store directory::

    calibration.json         the calibration artifact, when one is attached
    experiment.json          configuration, schedule, fit settings, graduation rule, mode,
                             generator settings (simulation), seed
    state.json               rounds completed, the pending plan, an interrupted round
    rounds/round_000/
        plan.json            the plan that served the round (exact cells and policies)
        data.parquet         the round's visitors, written BEFORE the fit starts
        schema.json          how to read data.parquet back into a RoundData
        truth.pkl            simulation only: the sealed truth (never unsealed here)
        posterior.nc         posterior summaries (NetCDF DataTree: segment rewards, GATEs,
                             the fit's scalar sites and diagnostics)
        result.json          readable result: cell observations, segments, evidence, drift,
                             truth comparison, next plan
        result.pkl           the round's analysis objects, for exact reloading

Every file is written atomically (to a temporary file in the same directory, then renamed
with :func:`os.replace`), and ``state.json`` is written last, so a reader sees either the
old or the new state, never a half-written one. A round whose data was written but whose
fit did not finish is recorded in ``state.json`` as ``"interrupted"``; the next
``next(exp)`` after :func:`load_experiment` fits that stored data (it does not pull the
round again), so no row is lost or duplicated, and because every seed derives from
(seed, round) the resumed round equals the uninterrupted one.

The ``.pkl`` files are Python pickles of pytyche objects: read them only from stores you
wrote (as with any pickle) and with the same pytyche version.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import xarray as xr

from pytyche._version import __version__
from pytyche.analysis.graduation import ExpectedLossRule
from pytyche.contracts import Truth
from pytyche.data import RoundData
from pytyche.experiment.config import ExperimentConfig
from pytyche.experiment.schedule import ExplicitSchedule, FixedSchedule, GeometricSchedule
from pytyche.experiment.serialization import plan_from_dict, plan_to_dict
from pytyche.inference import BCFConfig

if TYPE_CHECKING:
    from pytyche.experiment.plan import NextRoundPlan
    from pytyche.experiment.rounds import Round
    from pytyche.experiment.sequential import SequentialExperiment

__all__ = ["FORMAT_VERSION", "ExperimentStore", "load_experiment"]

FORMAT_VERSION = 1


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _atomic_write_with(path: Path, writer) -> None:
    """Write through ``writer(temporary_path)`` then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        writer(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_json(path: Path, payload: Any) -> None:
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default)
    _atomic_write_bytes(path, (text + "\n").encode())


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple | set):
        return list(value)
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return str(value)


class ExperimentStore:
    """Reads and writes one experiment directory (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # ------------------------------------------------------------- creation
    @classmethod
    def create(cls, path: Path, experiment: SequentialExperiment) -> ExperimentStore:
        """A new store at ``path`` (absent or empty) for ``experiment``."""
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise FileExistsError(
                f"store {str(path)!r} exists and is not an empty directory; resume an existing "
                "experiment with pytyche.experiment.load_experiment(path)"
            )
        store = cls(path)
        path.mkdir(parents=True, exist_ok=True)
        calibration = experiment.calibration
        if calibration is not None and hasattr(calibration, "to_dict"):
            _write_json(path / "calibration.json", calibration.to_dict())
        _write_json(path / "experiment.json", _experiment_payload(experiment))
        return store

    def round_dir(self, index: int) -> Path:
        """Directory of round ``index``."""
        return self.path / "rounds" / f"round_{index:03d}"

    # ------------------------------------------------------------- writing
    def check_storable(self, plan: NextRoundPlan) -> None:
        """Raise ``TypeError`` if a plan has a policy the store cannot write."""
        plan_to_dict(plan)

    def write_all(self, experiment: SequentialExperiment) -> None:
        """Write every completed round and the state (``exp.save``)."""
        for round_result, data, truth in zip(
            experiment._history, experiment._rounds_data, experiment._truths, strict=True
        ):
            self.write_round_input(round_result.index, round_result.plan, data, truth)
            self.write_round_result(round_result)
        self.write_state(experiment)

    def write_round_input(
        self, index: int, plan: NextRoundPlan, data: RoundData, truth: Truth | None
    ) -> None:
        """Write the round's plan, data (and truth) before its fit; mark it interrupted."""
        directory = self.round_dir(index)
        _write_json(directory / "plan.json", plan_to_dict(plan))
        _atomic_write_with(directory / "data.parquet", data.frame.to_parquet)
        _write_json(directory / "schema.json", _schema_of(data))
        if truth is not None:
            _atomic_write_bytes(directory / "truth.pkl", pickle.dumps(truth))
        state = self.read_state()
        state["interrupted"] = index
        state["pending_plan"] = plan_to_dict(plan)
        _write_json(self.path / "state.json", state)

    def write_round_result(self, result: Round) -> None:
        """Write a finished round's posterior summaries and results."""
        directory = self.round_dir(result.index)
        _atomic_write_with(
            directory / "posterior.nc",
            lambda p: result.posterior_summary.to_netcdf(p, engine="h5netcdf"),
        )
        _write_json(directory / "result.json", _readable_result(result))
        kept = {
            f.name: getattr(result, f.name)
            for f in dataclasses.fields(result)
            if f.name not in ("posterior", "data", "posterior_summary")
        }
        _atomic_write_bytes(directory / "result.pkl", pickle.dumps(kept))

    def write_state(self, experiment: SequentialExperiment) -> None:
        """Record rounds completed and the pending plan (written last, atomically)."""
        plan = experiment._next_plan
        state = {
            "format_version": FORMAT_VERSION,
            "rounds_completed": len(experiment._history),
            "mode": experiment.mode,
            "pending_plan": None if plan is None else plan_to_dict(plan),
            "interrupted": None,
        }
        _write_json(self.path / "state.json", state)

    # ------------------------------------------------------------- reading
    def read_state(self) -> dict:
        """The state record (a fresh one if none was written yet)."""
        path = self.path / "state.json"
        if not path.exists():
            return {
                "format_version": FORMAT_VERSION,
                "rounds_completed": 0,
                "mode": None,
                "pending_plan": None,
                "interrupted": None,
            }
        return json.loads(path.read_text())

    def pending_round(self, index: int) -> tuple[RoundData, Truth | None] | None:
        """Data (and truth) of round ``index`` if it was written but never fitted."""
        if self.read_state().get("interrupted") != index:
            return None
        return self.read_round_input(index)

    def read_round_input(self, index: int) -> tuple[RoundData, Truth | None]:
        """The stored data and truth of round ``index``."""
        directory = self.round_dir(index)
        schema = json.loads((directory / "schema.json").read_text())
        frame = pd.read_parquet(directory / "data.parquet")
        data = RoundData.from_frame(
            frame,
            arms=schema["arms"],
            outcome=schema["outcome"],
            arm=schema["arm_column"],
            covariates=schema["covariates"],
            categorical=schema["categorical"],
            id_column=schema["id_column"],
            family=schema["family"],
            require_all_arms=False,
        )
        truth_path = directory / "truth.pkl"
        truth = pickle.loads(truth_path.read_bytes()) if truth_path.exists() else None
        return data, truth

    def read_round(self, index: int, data: RoundData) -> Round:
        """A completed round (its posterior is not stored: ``posterior`` is None)."""
        from pytyche.experiment.rounds import Round

        directory = self.round_dir(index)
        kept = pickle.loads((directory / "result.pkl").read_bytes())
        summary = xr.open_datatree(directory / "posterior.nc", engine="h5netcdf").load()
        return Round(posterior=None, data=data, posterior_summary=summary, **kept)


def _schema_of(data: RoundData) -> dict:
    return {
        "arms": list(data.arms),
        "outcome": data.outcome,
        "arm_column": data.arm_column,
        "covariates": list(data.covariates),
        "categorical": list(data.categories),
        "id_column": data.id_column,
        "family": data.family.value,
    }


def _experiment_payload(experiment: SequentialExperiment) -> dict:
    generator = experiment.generator
    generator_config = getattr(generator, "config", None)
    return {
        "format_version": FORMAT_VERSION,
        "pytyche_version": __version__,
        "config": dataclasses.asdict(experiment.config),
        "schedule": _schedule_to_dict(experiment.schedule),
        "fit_config": dataclasses.asdict(experiment.fit_config),
        "graduation_rule": _rule_to_dict(experiment.graduation_rule),
        "calibrated": experiment.calibration is not None,
        "mode": experiment.mode,
        "generator": (
            {"kind": "simulated", "config": generator_config}
            if getattr(generator, "simulated", False) and isinstance(generator_config, dict)
            else {"kind": "external", "description": repr(generator)}
        ),
    }


def _schedule_to_dict(schedule: Any) -> dict:
    if isinstance(schedule, GeometricSchedule):
        return {
            "type": "geometric",
            "initial": schedule.initial,
            "growth": schedule.growth,
            "n_rounds": schedule.n_rounds,
        }
    if isinstance(schedule, FixedSchedule):
        return {"type": "fixed", "per_round": schedule.per_round, "n_rounds": schedule.n_rounds}
    if isinstance(schedule, ExplicitSchedule):
        return {"type": "explicit", "sizes": list(schedule.sizes)}
    return {"type": "custom", "description": repr(schedule)}


def _schedule_from_dict(payload: dict) -> Any:
    kind = payload["type"]
    if kind == "geometric":
        return GeometricSchedule(payload["initial"], payload["growth"], payload["n_rounds"])
    if kind == "fixed":
        return FixedSchedule(payload["per_round"], payload["n_rounds"])
    if kind == "explicit":
        return ExplicitSchedule(tuple(payload["sizes"]))
    return None


def _rule_to_dict(rule: Any) -> dict:
    if isinstance(rule, ExpectedLossRule):
        return {"type": "expected_loss", **dataclasses.asdict(rule)}
    return {"type": "custom", "description": repr(rule)}


def _readable_result(result: Round) -> dict:
    return {
        "round": result.number,
        "summary": result.summary_one_line(),
        "cumulative_visitors": result.cumulative_visitors,
        "observations": [dataclasses.asdict(o) for o in result.observations],
        "segments": result.segment_table().reset_index().to_dict(orient="records"),
        "recommendations": [dataclasses.asdict(r) for r in result.recommendations],
        "graduation": [str(g) for g in result.graduation],
        "drift": None if result.drift is None else [s.describe() for s in result.drift.segments],
        "truth_comparison": (
            None if result.truth_comparison is None else dataclasses.asdict(result.truth_comparison)
        ),
        "next_recommendation": plan_to_dict(result.next_recommendation),
        "interval_claim": result.interval_claim.value,
        "seeds": result.seeds,
    }


def load_experiment(
    path: str | Path,
    *,
    generator: Any = None,
    schedule: Any = None,
    graduation_rule: Any = None,
    calibration: Any = None,
    progress: bool = False,
) -> SequentialExperiment:
    """Resume an experiment from its store directory.

    Parameters
    ----------
    path : str or Path
        The store directory.
    generator : callable, optional
        Where further rounds come from. A simulated experiment rebuilds its generator from
        the stored settings; a real-data experiment needs one here to call ``next(exp)``
        (or feed rounds with ``exp.ingest(data)``). Its mode must match the store's.
    schedule, graduation_rule : optional
        Required only when the experiment used a custom schedule or rule (these cannot be
        written to JSON).
    calibration : optional
        The calibration artifact, required when the experiment was calibrated.
    progress : bool
        Show progress bars during fits.

    Returns
    -------
    SequentialExperiment
        With its history, pending plan and any interrupted round restored; later rounds
        keep persisting to ``path``.
    """
    from pytyche.experiment.sequential import REAL, SIMULATION, SequentialExperiment

    store = ExperimentStore(Path(path))
    meta_path = store.path / "experiment.json"
    if not meta_path.exists():
        raise FileNotFoundError(
            f"{str(path)!r} is not a pytyche experiment store (no experiment.json)"
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"store format {meta.get('format_version')} is not {FORMAT_VERSION}")
    state = store.read_state()
    mode = state.get("mode") or meta.get("mode")
    if generator is None and meta["generator"]["kind"] == "simulated":
        from pytyche.generators.simulated import simulated_experiment_generator

        generator = simulated_experiment_generator(**meta["generator"]["config"])
    if generator is not None and mode is not None:
        simulated = getattr(generator, "simulated", None)
        if simulated is not None and (SIMULATION if simulated else REAL) != mode:
            raise ValueError(
                f"the store holds a {mode} experiment but the generator is "
                f"{'simulated' if simulated else 'real-data'}; modes cannot be mixed"
            )
    stored_schedule = _schedule_from_dict(meta["schedule"])
    if stored_schedule is None and schedule is None:
        raise ValueError("this experiment used a custom schedule: pass schedule=")
    rule_meta = meta["graduation_rule"]
    if graduation_rule is None:
        if rule_meta["type"] != "expected_loss":
            raise ValueError("this experiment used a custom graduation rule: pass graduation_rule=")
        rule_fields = {k: v for k, v in rule_meta.items() if k != "type"}
        rule_fields.setdefault("units", "absolute")  # written before relative thresholds
        graduation_rule = ExpectedLossRule(**rule_fields)
    if meta["calibrated"] and calibration is None:
        stored = store.path / "calibration.json"
        if not stored.exists():
            raise ValueError("this experiment was calibrated: pass its calibration artifact")
        from pytyche.calibration import Calibration

        calibration = Calibration.from_dict(json.loads(stored.read_text()))
    config = meta["config"]
    config["treatments"] = tuple(config["treatments"])
    config.setdefault("threshold_units", "absolute")  # written before relative thresholds
    experiment = SequentialExperiment(
        generator=generator,
        schedule=schedule if schedule is not None else stored_schedule,
        config=ExperimentConfig(**config),
        fit_config=BCFConfig(**meta["fit_config"]),
        graduation_rule=graduation_rule,
        calibration=calibration,
        progress=progress,
        mode=mode,
    )
    _restore_history(experiment, store, state)
    experiment._store = store
    return experiment


def _restore_history(experiment: SequentialExperiment, store: ExperimentStore, state: dict) -> None:
    from pytyche.analysis.graduation import round_evidence

    for index in range(int(state["rounds_completed"])):
        data, truth = store.read_round_input(index)
        result = store.read_round(index, data)
        experiment._history.append(result)
        experiment._rounds_data.append(data)
        experiment._truths.append(truth)
        experiment._evidence.append(round_evidence(index, result.analysis, result.recommendations))
    if state.get("pending_plan") is not None:
        experiment._next_plan = plan_from_dict(state["pending_plan"])
    experiment._warned = False
