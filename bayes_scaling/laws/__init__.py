"""Pure jax.numpy scaling laws (loss and downstream error) and their priors. No NumPyro here.

``forms`` holds the laws and their registries; ``priors`` the serialisable prior specs and
defaults; ``discrepancy_prior`` the prior of the extrapolation discrepancy and its population
learned across ladders. The common names are re-exported here (``bayes_scaling.laws.gadre`` and so on).
"""

from bayes_scaling.laws.forms import (
    ERROR_LAWS,
    LOSS_LAWS,
    ErrorLawSpec,
    LawSpec,
    chinchilla,
    exponential_error,
    gadre,
    gadre_paper_form,
    get_error_law,
    get_law,
    sigmoid_error,
)

__all__ = ["ERROR_LAWS", "LOSS_LAWS", "ErrorLawSpec", "LawSpec", "chinchilla", "exponential_error",
           "gadre", "gadre_paper_form", "get_error_law", "get_law", "sigmoid_error"]
