"""bayes_scaling: Bayesian scaling laws for language models.

Priors on the scaling exponents and the irreducible loss, NUTS posteriors (NumPyro on JAX), and
calibrated predictive intervals and probabilities for the runs you plan, including heavily
over-trained models and downstream task error.

Importing the package has no side effects: it never touches JAX's configuration. Fits switch
JAX to float64 when they run; call :func:`set_cpu_devices` first thing in a script to run chains
in parallel on CPU.

The public names are imported on first use (PEP 562), so ``import bayes_scaling`` and the
``bayes-scaling`` command's ``--help`` do not load JAX; ``from bayes_scaling import LossLaw``
works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bayes_scaling._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Diagnostics": "bayes_scaling.inference.diagnostics",
    "DiagnosticsWarning": "bayes_scaling.inference.diagnostics",
    "RefitWarning": "bayes_scaling.inference.diagnostics",
    "ERROR_LAWS": "bayes_scaling.laws.forms",
    "ErrorLaw": "bayes_scaling.estimators.error_law",
    "FitFileError": "bayes_scaling.estimators.io",
    "IdentifiabilityWarning": "bayes_scaling.data",
    "LOSS_LAWS": "bayes_scaling.laws.forms",
    "LossLaw": "bayes_scaling.estimators.loss_law",
    "NotFittedError": "bayes_scaling.estimators.loss_law",
    "Prior": "bayes_scaling.laws.priors",
    "RunsError": "bayes_scaling.data",
    "SamplerConfig": "bayes_scaling.inference.config",
    "ScalingPredictor": "bayes_scaling.predict.predictor",
    "TargetError": "bayes_scaling.data.targets",
    "check_design": "bayes_scaling.data",
    "data_hash": "bayes_scaling.data",
    "enable_compilation_cache": "bayes_scaling.inference.config",
    "fit_many": "bayes_scaling.estimators.batch",
    "batch_kernel": "bayes_scaling.estimators.batch",
    "ChEESConfig": "bayes_scaling.inference.chees",
    "default_error_priors": "bayes_scaling.laws.priors",
    "default_priors": "bayes_scaling.laws.priors",
    "list_datasets": "bayes_scaling.data",
    "load_dataset": "bayes_scaling.data",
    "gadre2024_task_metadata": "bayes_scaling.data",
    "load_runs": "bayes_scaling.data",
    "set_cpu_devices": "bayes_scaling.inference.config",
    "validate_runs": "bayes_scaling.data",
    "compute_to_target": "bayes_scaling.predict.queries",
    "compute_to_target_draws": "bayes_scaling.predict.queries",
    "optimal_allocation": "bayes_scaling.predict.queries",
    "optimal_allocation_draws": "bayes_scaling.predict.queries",
    "predictive_draws": "bayes_scaling.predict.queries",
    "probability": "bayes_scaling.predict.queries",
    "scenario_grid": "bayes_scaling.predict.queries",
    "RunPlan": "bayes_scaling.predict.planning",
    "plan_runs": "bayes_scaling.predict.planning",
    "backtest": "bayes_scaling.evaluate.backtest",
    "coverage": "bayes_scaling.evaluate.scoring",
    "sbc": "bayes_scaling.evaluate.sbc",
    "sbc_uniformity": "bayes_scaling.evaluate.sbc",
    "SBCResult": "bayes_scaling.evaluate.sbc",
    "PooledErrorLaw": "bayes_scaling.estimators.pooled_error",
    "PooledLossLaw": "bayes_scaling.estimators.pooled",
    "StackedPredictor": "bayes_scaling.evaluate.compare",
    "compare_models": "bayes_scaling.evaluate.compare",
    "loo_table": "bayes_scaling.evaluate.compare",
    "stacking_weights": "bayes_scaling.evaluate.compare",
    "ParetoKWarning": "bayes_scaling.evaluate.compare",
    "fit_law_grid": "bayes_scaling.evaluate.compare",
    "long_format": "bayes_scaling.estimators.pooled",
    "DesignBounds": "bayes_scaling.data.design",
    "ExtrapolationWarning": "bayes_scaling.data.design",
    "Discrepancy": "bayes_scaling.estimators.discrepancy",
    "Misfit": "bayes_scaling.evaluate.misfit",
    "misfit_check": "bayes_scaling.evaluate.misfit",
    "lfo_compare": "bayes_scaling.evaluate.compare",
    "filter_runs": "bayes_scaling.data",
    "FilterError": "bayes_scaling.data",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bayes_scaling' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - static analysers see the eager imports
    from bayes_scaling.data import (  # noqa: F401
        FilterError,
        IdentifiabilityWarning,
        RunsError,
        check_design,
        data_hash,
        filter_runs,
        gadre2024_task_metadata,
        list_datasets,
        load_dataset,
        load_runs,
        validate_runs,
    )
    from bayes_scaling.data.design import (  # noqa: F401
        DesignBounds,
        ExtrapolationWarning,
    )
    from bayes_scaling.data.targets import (  # noqa: F401
        TargetError,
    )
    from bayes_scaling.estimators.batch import (  # noqa: F401
        batch_kernel,
        fit_many,
    )
    from bayes_scaling.estimators.discrepancy import (  # noqa: F401
        Discrepancy,
    )
    from bayes_scaling.estimators.error_law import (  # noqa: F401
        ErrorLaw,
    )
    from bayes_scaling.estimators.io import (  # noqa: F401
        FitFileError,
    )
    from bayes_scaling.estimators.loss_law import (  # noqa: F401
        LossLaw,
        NotFittedError,
    )
    from bayes_scaling.estimators.pooled import (  # noqa: F401
        PooledLossLaw,
        long_format,
    )
    from bayes_scaling.estimators.pooled_error import PooledErrorLaw  # noqa: F401
    from bayes_scaling.evaluate.backtest import (  # noqa: F401
        backtest,
    )
    from bayes_scaling.evaluate.compare import (  # noqa: F401
        ParetoKWarning,
        StackedPredictor,
        compare_models,
        fit_law_grid,
        lfo_compare,
        loo_table,
        stacking_weights,
    )
    from bayes_scaling.evaluate.misfit import (  # noqa: F401
        Misfit,
        misfit_check,
    )
    from bayes_scaling.evaluate.sbc import (  # noqa: F401
        SBCResult,
        sbc,
        sbc_uniformity,
    )
    from bayes_scaling.evaluate.scoring import (  # noqa: F401
        coverage,
    )
    from bayes_scaling.inference.chees import ChEESConfig  # noqa: F401
    from bayes_scaling.inference.config import (  # noqa: F401
        SamplerConfig,
        enable_compilation_cache,
        set_cpu_devices,
    )
    from bayes_scaling.inference.diagnostics import (  # noqa: F401
        Diagnostics,
        DiagnosticsWarning,
        RefitWarning,
    )
    from bayes_scaling.laws.forms import (  # noqa: F401
        ERROR_LAWS,
        LOSS_LAWS,
    )
    from bayes_scaling.laws.priors import (  # noqa: F401
        Prior,
        default_error_priors,
        default_priors,
    )
    from bayes_scaling.predict.planning import (  # noqa: F401
        RunPlan,
        plan_runs,
    )
    from bayes_scaling.predict.predictor import (  # noqa: F401
        ScalingPredictor,
    )
    from bayes_scaling.predict.queries import (  # noqa: F401
        compute_to_target,
        compute_to_target_draws,
        optimal_allocation,
        optimal_allocation_draws,
        predictive_draws,
        probability,
        scenario_grid,
    )
