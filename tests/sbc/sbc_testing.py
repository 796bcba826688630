"""Helpers shared by the SBC tests: small sweep specs of the conjugate normal problem."""

from __future__ import annotations

from pytyche.sbc.spec import SweepSpec, parse_spec


def conjugate_spec_text(
    *,
    sweep_id: str = "test",
    seed: int = 0,
    scales: tuple[int, ...] = (50,),
    replicates: int = 60,
    chunk_size: int | None = 16,
    num_draws: int = 399,
    num_rank_draws: int = 99,
    posterior_scale: float = 1.0,
    posterior_scale_exponent: float = 0.0,
    quantities: tuple[str, ...] = ("*",),
) -> str:
    """TOML text of a conjugate normal sweep."""
    chunk = "" if chunk_size is None else f"chunk_size = {chunk_size}\n"
    quoted = ", ".join(f'"{q}"' for q in quantities)
    return f"""
[sweep]
id = "{sweep_id}"
seed = {seed}
scales = {list(scales)}
replicates = {replicates}
{chunk}num_rank_draws = {num_rank_draws}
levels = [0.5, 0.8, 0.9, 0.95]
quantities = [{quoted}]

[dgp]
kind = "prior_predictive"

[model]
name = "conjugate_normal"
[model.params]
num_groups = 3
prior_sd = 1.0
noise_sd = 1.0

[fit]
num_draws = {num_draws}
posterior_scale = {posterior_scale}
posterior_scale_exponent = {posterior_scale_exponent}
reference_n = 1000
"""


def conjugate_spec(**kwargs: object) -> SweepSpec:
    """A parsed conjugate normal sweep spec (see :func:`conjugate_spec_text`)."""
    return parse_spec(conjugate_spec_text(**kwargs))  # type: ignore[arg-type]
