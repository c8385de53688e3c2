"""bayes_scaling: Bayesian scaling laws for language models.

Priors on the scaling exponents and the irreducible loss, NUTS posteriors (NumPyro on JAX), and
calibrated predictive intervals and probabilities for the runs you plan, including heavily
over-trained models and downstream task error.

Importing the package has no side effects: it never touches JAX's configuration. Fits switch
JAX to float64 when they run; call :func:`set_cpu_devices` first thing in a script to run chains
in parallel on CPU.
"""

from bayes_scaling._version import __version__
from bayes_scaling.data import (  # noqa: E402
    FilterError,
    IdentifiabilityWarning,
    RunsError,
    check_design,
    data_hash,
    filter_runs,
    list_datasets,
    load_dataset,
    load_runs,
    validate_runs,
)
from bayes_scaling.data.targets import TargetError  # noqa: E402
from bayes_scaling.estimators.batch import fit_many  # noqa: E402
from bayes_scaling.estimators.error_law import ErrorLaw  # noqa: E402
from bayes_scaling.estimators.io import FitFileError  # noqa: E402
from bayes_scaling.estimators.loss_law import LossLaw, NotFittedError  # noqa: E402
from bayes_scaling.estimators.pooled import PooledLossLaw, long_format  # noqa: E402
from bayes_scaling.evaluate.backtest import backtest, coverage  # noqa: E402
from bayes_scaling.evaluate.compare import (  # noqa: E402
    ParetoKWarning,
    StackedPredictor,
    compare_models,
    fit_law_grid,
    loo_table,
    stacking_weights,
)
from bayes_scaling.evaluate.sbc import SBCResult, sbc, sbc_uniformity  # noqa: E402
from bayes_scaling.inference.nuts import (  # noqa: E402
    Diagnostics,
    DiagnosticsWarning,
    SamplerConfig,
    enable_compilation_cache,
    set_cpu_devices,
)
from bayes_scaling.laws.forms import ERROR_LAWS, LOSS_LAWS  # noqa: E402
from bayes_scaling.laws.priors import Prior, default_error_priors, default_priors  # noqa: E402
from bayes_scaling.predict.predictor import ScalingPredictor  # noqa: E402
from bayes_scaling.predict.queries import (  # noqa: E402
    compute_to_target,
    compute_to_target_draws,
    optimal_allocation,
    optimal_allocation_draws,
    predictive_draws,
    probability,
    scenario_grid,
)

__all__ = [
    "__version__",
    "Diagnostics",
    "DiagnosticsWarning",
    "ERROR_LAWS",
    "ErrorLaw",
    "FilterError",
    "FitFileError",
    "IdentifiabilityWarning",
    "LOSS_LAWS",
    "LossLaw",
    "NotFittedError",
    "Prior",
    "RunsError",
    "SamplerConfig",
    "ScalingPredictor",
    "TargetError",
    "check_design",
    "data_hash",
    "enable_compilation_cache",
    "filter_runs",
    "fit_many",
    "default_error_priors",
    "default_priors",
    "list_datasets",
    "load_dataset",
    "load_runs",
    "set_cpu_devices",
    "validate_runs",
    "compute_to_target",
    "compute_to_target_draws",
    "optimal_allocation",
    "optimal_allocation_draws",
    "predictive_draws",
    "probability",
    "scenario_grid",
    "backtest",
    "coverage",
    "sbc",
    "sbc_uniformity",
    "SBCResult",
    "PooledLossLaw",
    "StackedPredictor",
    "compare_models",
    "loo_table",
    "stacking_weights",
    "ParetoKWarning",
    "fit_law_grid",
    "long_format",
]
