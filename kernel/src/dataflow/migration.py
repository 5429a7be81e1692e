"""Migration records (steps, plans, risk findings), kept importable from here; they live in ``dataflow.types``."""

from __future__ import annotations

from dataflow.types import ADDITIVE_KINDS, STEP_KINDS, MigrationPlan, MigrationStep, RiskFinding, RiskLevel

__all__ = ["ADDITIVE_KINDS", "STEP_KINDS", "MigrationPlan", "MigrationStep", "RiskFinding", "RiskLevel"]
