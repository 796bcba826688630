"""Real-data generators hand in validated frames and never truth."""

import numpy as np
import pandas as pd
import pytest

from pytyche.contracts import reveal_truth
from pytyche.data import DataValidationError
from pytyche.experiment import cold_start_plan
from pytyche.generators import dataframe_generator, generate_dataset, parquet_generator

TREATMENTS = ("control", "low_promo", "free_ship")


def platform_export(round_index, n=3_000):
    """A frame as an experimentation platform would export it (from the simulator)."""
    data, truth = generate_dataset(
        "clustered_realistic",
        n,
        K=3,
        seed=8,
        round_index=round_index,
        cells=cold_start_plan(TREATMENTS, n).cells,
    )
    frame = data.frame.drop(columns=["round"])
    frame["device"] = frame["device"].astype(str)  # platforms export plain strings
    frame["region"] = frame["region"].astype(str)
    return frame, reveal_truth(truth)


READ = {"categorical": ["device", "region"], "id_column": "visitor_id"}


def test_dataframe_generator_validates_each_round_and_returns_no_truth():
    frames = [platform_export(0)[0], platform_export(1)[0]]
    generator = dataframe_generator(frames, **READ)
    assert generator.simulated is False
    plan = cold_start_plan(TREATMENTS, 3_000)
    for round_index, frame in enumerate(frames):
        data, truth = generator(round_index, plan)
        assert truth is None
        assert data.arms == TREATMENTS and data.n_visitors == len(frame)
        np.testing.assert_array_equal(data.round, round_index)
        np.testing.assert_array_equal(data.y, frame["revenue"].to_numpy())
        assert set(data.cell) == {"control", "explore"}
        assert data.propensity.shape == (len(frame), 3)
    with pytest.raises(KeyError, match="no frame for round 2; rounds available: \\[0, 1\\]"):
        generator(2, plan)


def test_mapping_and_first_round_choose_the_round_numbers():
    frame = platform_export(0)[0]
    plan = cold_start_plan(TREATMENTS, 3_000)
    by_sequence = dataframe_generator([frame], first_round=1, **READ)
    assert by_sequence(1, plan)[0].n_visitors == 3_000
    by_mapping = dataframe_generator({5: frame}, **READ)
    assert by_mapping(5, plan)[0].n_visitors == 3_000


def test_design_columns_are_required_and_checked_against_the_plan():
    frame = platform_export(0)[0]
    plan = cold_start_plan(TREATMENTS, 3_000)
    no_cells = frame.drop(columns=["cell"])
    with pytest.raises(DataValidationError, match="lacks design columns \\['cell'\\]"):
        dataframe_generator([no_cells], **READ)(0, plan)
    other_cells = frame.assign(cell="optimized")
    with pytest.raises(DataValidationError, match="cells \\['optimized'\\] that are not in"):
        dataframe_generator([other_cells], **READ)(0, plan)
    plain = frame.drop(
        columns=["cell", "propensity_control", "propensity_low_promo", "propensity_free_ship"]
    )
    data, _ = dataframe_generator([plain], require_design_columns=False, **READ)(0, plan)
    assert data.propensity is None


def test_the_schema_rejects_bad_frames():
    frame = platform_export(0)[0]
    plan = cold_start_plan(TREATMENTS, 3_000)
    negative = frame.assign(revenue=frame["revenue"] - 1000.0)
    with pytest.raises(DataValidationError, match="negative"):
        dataframe_generator([negative], **READ)(0, plan)
    with pytest.raises(DataValidationError, match="unknown arms"):
        dataframe_generator([frame], require_design_columns=False, **READ)(
            0, cold_start_plan(["control", "x", "y"], 10)
        )
    with pytest.raises(TypeError, match="one per round"):
        dataframe_generator(frame)
    with pytest.raises(ValueError, match="frames is empty"):
        dataframe_generator([])
    with pytest.raises(TypeError, match="frames\\[0\\] must be a DataFrame"):
        dataframe_generator([np.zeros(3)])


def test_parquet_generator_reads_each_round_when_asked(tmp_path):
    template = str(tmp_path / "round_{round}.parquet")
    generator = parquet_generator(template, **READ)
    plan = cold_start_plan(TREATMENTS, 3_000)
    with pytest.raises(FileNotFoundError, match="round_0.parquet"):
        generator(0, plan)
    frame, _ = platform_export(0)
    frame.to_parquet(template.format(round=0), index=False)
    data, truth = generator(0, plan)
    assert truth is None
    pd.testing.assert_series_equal(
        data.frame["revenue"], frame["revenue"].reset_index(drop=True), check_names=False
    )
    with pytest.raises(ValueError, match="placeholder"):
        parquet_generator(tmp_path / "round.parquet")
