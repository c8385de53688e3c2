"""Whether a runs table can identify a law's exponents: warnings that name the parameter and
the runs to add."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from bayes_scaling.data.validation import _RTOL, _validate

__all__ = ["IdentifiabilityWarning", "check_design"]


class IdentifiabilityWarning(UserWarning):
    """The runs cannot pin down a parameter of the law; its posterior will mostly be the prior.

    Examples
    --------
    >>> import warnings
    >>> issubclass(IdentifiabilityWarning, UserWarning)
    True
    """


def _distinct(values: np.ndarray) -> int:
    """Number of distinct positive values, up to a relative tolerance."""
    x = np.sort(np.log(values[np.isfinite(values) & (values > 0)]))
    if x.size == 0:
        return 0
    return 1 + int(np.count_nonzero(np.diff(x) > _RTOL))


def check_design(runs: pd.DataFrame, *, data_term: bool = True) -> tuple[str, ...]:
    """Warn when the runs cannot identify a scaling exponent.

    A power law in model size needs at least two distinct ``n_params`` to fix its exponent
    ``alpha``. A separate data term ``B D^-beta`` also needs at least two distinct token ratios
    ``tokens_per_param``: with a single ratio, D = M N is a fixed multiple of N and the data term
    is confounded with the size term, so ``beta`` is set by the prior alone.

    Parameters
    ----------
    runs : pandas.DataFrame
        Needs ``n_params`` and, when ``data_term``, ``n_tokens`` (or ``tokens_per_param``).
    data_term : bool, default True
        Whether the law has a data term with its own exponent ``beta``.

    Returns
    -------
    tuple of str
        Names of the parameters that cannot be identified (empty when all can be).

    Warns
    -----
    IdentifiabilityWarning
        One per parameter that cannot be identified, naming it.

    Examples
    --------
    >>> import pandas as pd, warnings
    >>> runs = pd.DataFrame({"n_params": [1e8, 1e8], "n_tokens": [2e9, 8e9]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", IdentifiabilityWarning)
    ...     check_design(runs)
    ('alpha',)
    """
    has_ratio = isinstance(runs, pd.DataFrame) and "tokens_per_param" in runs.columns
    if not data_term:
        needed: tuple[str, ...] = ("n_params",)
    elif has_ratio:
        needed = ("n_params", "tokens_per_param")
    else:
        needed = ("n_params", "n_tokens")
    _validate(runs, required=needed, integral_params=False)
    problems: list[str] = []
    n = runs["n_params"].to_numpy(dtype=np.float64)
    sizes = _distinct(n)
    if sizes < 2:
        problems.append("alpha")
        warnings.warn(
            f"only {sizes} distinct model size (n_params): the size exponent 'alpha' cannot be "
            "identified and its posterior will follow the prior. Add runs at other sizes.",
            IdentifiabilityWarning,
            stacklevel=2,
        )
    if data_term:
        if "tokens_per_param" in runs.columns:
            ratio = runs["tokens_per_param"].to_numpy(dtype=np.float64)
        else:
            ratio = runs["n_tokens"].to_numpy(dtype=np.float64) / n
        ratios = _distinct(ratio)
        if ratios < 2:
            problems.append("beta")
            warnings.warn(
                f"only {ratios} distinct token ratio (tokens_per_param): the data exponent "
                "'beta' cannot be identified (D is a fixed multiple of N) and its posterior will "
                "follow the prior. Add runs at other tokens-per-parameter ratios, or use a law "
                "without a separate data term.",
                IdentifiabilityWarning,
                stacklevel=2,
            )
    return tuple(problems)
