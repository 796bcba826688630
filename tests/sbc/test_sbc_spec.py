"""Sweep spec parsing and validation: every malformed spec fails with a named key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sbc_testing import conjugate_spec, conjugate_spec_text

from pytyche.sbc.spec import DEFAULT_LEVELS, SpecError, SweepSpec, load_spec, parse_spec

REPO = Path(__file__).resolve().parents[2]


def test_parse_conjugate_spec_fields():
    spec = conjugate_spec(scales=(10, 100), replicates=7, chunk_size=3, seed=5)
    assert isinstance(spec, SweepSpec)
    assert spec.scales == (10, 100)
    assert spec.replicates == (7, 7)
    assert spec.chunk_size == 3
    assert spec.seed == 5
    assert spec.levels == DEFAULT_LEVELS
    assert spec.model == "conjugate_normal"
    assert spec.fit_params["posterior_scale"] == 1.0
    assert spec.total_replicates == 14


def test_spec_hash_depends_on_content_only():
    first = conjugate_spec(seed=1)
    again = parse_spec(conjugate_spec_text(seed=1).replace("[dgp]", "# comment\n[dgp]"))
    other = conjugate_spec(seed=2)
    assert first.spec_hash == again.spec_hash
    assert first.spec_hash != other.spec_hash


def test_per_scale_replicates():
    text = conjugate_spec_text(scales=(10, 100)).replace("replicates = 60", "replicates = [5, 3]")
    assert parse_spec(text).replicates == (5, 3)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("scales = [50]", "scales = [100, 50]", "scales must be strictly increasing"),
        ("scales = [50]", "scales = [0]", "scales must be positive"),
        ("scales = [50]", 'scales = "big"', "scales must be a non-empty list of integers"),
        ("replicates = 60", "replicates = 0", "replicates must be positive"),
        ("replicates = 60", "replicates = [1, 2]", "one integer or one per scale"),
        ("seed = 0", "seed = -1", "seed must be a non-negative integer"),
        ("chunk_size = 16", "chunk_size = 0", "chunk_size must be a positive integer"),
        ("levels = [0.5, 0.8, 0.9, 0.95]", "levels = [0.9, 0.5]", "levels must be strictly"),
        ("levels = [0.5, 0.8, 0.9, 0.95]", "levels = [0.5, 1.0]", "levels must be numbers in"),
        ("num_rank_draws = 99", "num_rank_draws = 0", "num_rank_draws must be a positive"),
        ('kind = "prior_predictive"', 'kind = "bootstrap"', "kind must be one of"),
        ('id = "test"', "", "[sweep] is missing the key 'id'"),
        ('name = "conjugate_normal"', "", "[model] is missing the key 'name'"),
        ("[sweep]", "[sweep]\nreplicate = 3", "[sweep] has unknown keys ['replicate']"),
        ("[dgp]", "[dgpp]\n[dgp]", "top level has unknown keys ['dgpp']"),
        ('quantities = ["*"]', "quantities = []", "quantities must be non-empty"),
    ],
)
def test_invalid_spec_names_the_key(old, new, message):
    text = conjugate_spec_text()
    assert old in text
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(text.replace(old, new, 1), origin="bad.toml")


def test_missing_table_and_bad_toml():
    with pytest.raises(SpecError, match=r"missing table \[model\]"):
        parse_spec(
            '[sweep]\nid="a"\nseed=0\nscales=[1]\nreplicates=1\n[dgp]\nkind="prior_predictive"'
        )
    with pytest.raises(SpecError, match="invalid TOML"):
        parse_spec("[sweep\n")


def test_generator_dgp_requires_its_keys():
    text = conjugate_spec_text().replace('kind = "prior_predictive"', 'kind = "generator"')
    with pytest.raises(SpecError, match="needs template"):
        parse_spec(text)
    generator = text.replace(
        'kind = "generator"',
        'kind = "generator"\ntemplate = "clustered"\nnum_arms = 3\n'
        'metric = "revenue_per_visitor"\nrandomize = {effect_scale = [0.2, 0.1]}',
    )
    with pytest.raises(SpecError, match=r"\[dgp.randomize\] effect_scale must be \[low, high\]"):
        parse_spec(generator)


def test_prior_predictive_refuses_generator_keys():
    text = conjugate_spec_text().replace(
        'kind = "prior_predictive"', 'kind = "prior_predictive"\ntemplate = "clustered"'
    )
    with pytest.raises(SpecError, match="remove the generator keys"):
        parse_spec(text)


def test_load_spec_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")


@pytest.mark.parametrize("path", sorted((REPO / "sbc" / "sweeps").glob("*.toml")))
def test_committed_sweep_specs_parse(path):
    spec = load_spec(path)
    assert spec.id == path.stem
