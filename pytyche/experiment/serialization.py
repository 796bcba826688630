"""Plans and cells as JSON: what the store writes and what a platform reads.

Every built-in policy has an exact JSON form, tagged by ``"type"``:

- ``{"type": "control"}``, ``{"type": "explore"}``;
- ``{"type": "arm_for_rule", "arm": ..., "rule": ...}``;
- ``{"type": "optimized", "segments": [{"rule": ..., "weights": {arm: w}}, ...]}``.

A plan is ``{"n_visitors", "treatments", "cells": [{"id", "weight", "policy"}]}``.
``plan_from_dict(plan_to_dict(plan)) == plan`` for plans made of these policies. A policy
of another type cannot be stored: :func:`policy_to_dict` raises ``TypeError`` naming it.
"""

from __future__ import annotations

from typing import Any

from pytyche.experiment.cells import ArmForRule, Cell, Control, Explore, Policy
from pytyche.experiment.optimized import Optimized, SegmentAllocation
from pytyche.experiment.plan import NextRoundPlan

__all__ = ["plan_from_dict", "plan_to_dict", "policy_from_dict", "policy_to_dict"]


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """JSON-ready form of a built-in policy (see the module docstring)."""
    if isinstance(policy, Control):
        return {"type": "control"}
    if isinstance(policy, Explore):
        return {"type": "explore"}
    if isinstance(policy, ArmForRule):
        return {"type": "arm_for_rule", "arm": policy.arm, "rule": policy.rule}
    if isinstance(policy, Optimized):
        return {
            "type": "optimized",
            "segments": [{"rule": s.rule, "weights": dict(s.weights)} for s in policy.segments],
        }
    raise TypeError(
        f"policy of type {type(policy).__name__} cannot be stored as JSON; stored experiments "
        "support Control, Explore, ArmForRule and Optimized cells"
    )


def policy_from_dict(payload: dict[str, Any]) -> Policy:
    """Rebuild a policy from :func:`policy_to_dict` output."""
    kind = payload.get("type") if isinstance(payload, dict) else None
    if kind == "control":
        return Control()
    if kind == "explore":
        return Explore()
    if kind == "arm_for_rule":
        return ArmForRule(arm=payload["arm"], rule=payload["rule"])
    if kind == "optimized":
        return Optimized(
            tuple(SegmentAllocation(s["rule"], s["weights"]) for s in payload["segments"])
        )
    raise ValueError(
        f"policy type must be control, explore, arm_for_rule or optimized; got {payload!r}"
    )


def plan_to_dict(plan: NextRoundPlan) -> dict[str, Any]:
    """Exact JSON-ready form of a plan (every cell's policy included)."""
    return {
        "n_visitors": plan.n_visitors,
        "treatments": list(plan.treatments),
        "cells": [
            {"id": cell.id, "weight": cell.weight, "policy": policy_to_dict(cell.policy)}
            for cell in plan.cells
        ],
    }


def plan_from_dict(payload: dict[str, Any]) -> NextRoundPlan:
    """Rebuild (and validate) a plan from :func:`plan_to_dict` output."""
    try:
        cells = tuple(
            Cell(c["id"], policy_from_dict(c["policy"]), float(c["weight"]))
            for c in payload["cells"]
        )
        return NextRoundPlan(int(payload["n_visitors"]), cells, tuple(payload["treatments"]))
    except KeyError as error:
        raise ValueError(f"plan JSON lacks the field {error.args[0]!r}") from None
