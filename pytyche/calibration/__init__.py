"""Calibration artifacts: SBC-fitted interval corrections, saved as JSON, applied to posteriors.

- :func:`fit_calibration` fits a :class:`Calibration` from an SBC sweep result
  (:mod:`pytyche.sbc`): inflation factors per nominal level and scale n;
- :meth:`Calibration.save` / :meth:`Calibration.load` (JSON);
- :meth:`Calibration.applies_to` checks the regime (family, metric, K) and warns outside the
  fitted scale range, :meth:`Calibration.check_config` warns when a fit's settings differ
  from the sweep's; :meth:`Calibration.apply` returns calibrated intervals **and**
  calibrated draws, labelled ``ClaimLevel.CALIBRATED``.
"""

from pytyche.calibration.artifact import (
    Calibration,
    CalibrationConfigWarning,
    CalibrationMismatchError,
    CalibrationRangeWarning,
    Regime,
)
from pytyche.calibration.fitting import (
    evaluate_calibration,
    fit_calibration,
    inflation_factors,
    isotonic_increasing,
)

__all__ = [
    "Calibration",
    "CalibrationConfigWarning",
    "CalibrationMismatchError",
    "CalibrationRangeWarning",
    "Regime",
    "evaluate_calibration",
    "fit_calibration",
    "inflation_factors",
    "isotonic_increasing",
]
