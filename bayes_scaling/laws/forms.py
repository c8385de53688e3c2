"""Scaling laws as pure ``jax.numpy`` functions, and their registry.

Loss laws
---------
All loss laws are written on the *log* scale with *centred* predictors, because that is the
parameterisation NUTS samples well (see DESIGN.md: ~5x fewer leapfrog steps than the raw form):

.. math::

    \\log \\mu = \\operatorname{logsumexp}\\bigl(\\log E,\\; a - \\alpha x_N,\\; b - \\beta x_D\\bigr),
    \\qquad x_N = \\log N - \\log N_0,\\; x_D = \\log D - \\log D_0,

which is exactly :math:`\\mu = E + A N^{-\\alpha} + B D^{-\\beta}` with
:math:`A = e^{a} N_0^{\\alpha}` and :math:`B = e^{b} D_0^{\\beta}`. ``a`` and ``b`` are the log of the
size and data terms *at the centre of the design* :math:`(N_0, D_0)` in nats, which is why they are
nearly uncorrelated with the exponents, unlike :math:`\\log A` and :math:`\\log B`.

``chinchilla``
    :math:`L(N, D) = E + A N^{-\\alpha} + B D^{-\\beta}` (Hoffmann et al. 2022).
``gadre``
    The tied-exponent form of Gadre et al. (2024), :math:`\\alpha = \\beta = \\eta'`. With
    :math:`C = 6ND` and :math:`M = D/N` it reads
    :math:`L(C, M) = E + (a_p M^{\\eta} + b_p M^{-\\eta}) C^{-\\eta}` with :math:`\\eta = \\eta'/2`,
    :math:`a_p = A\\,6^{\\eta}`, :math:`b_p = B\\,6^{\\eta}` (see :func:`gadre_paper_form`). For a fixed
    token multiplier M the compute exponent does not depend on M, which is what lets small runs at
    one M inform large runs at another.

Error laws (downstream top-1 error as a function of loss) live in the same registry style in
:data:`ERROR_LAWS`.

Nothing here imports NumPyro: these are plain functions of arrays, usable under ``jit``/``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
from jax.nn import sigmoid
from jax.scipy.special import logsumexp

Array = jnp.ndarray

__all__ = [
    "LOSS_LAWS",
    "ERROR_LAWS",
    "LawSpec",
    "ErrorLawSpec",
    "get_law",
    "get_error_law",
    "chinchilla",
    "gadre",
    "gadre_paper_form",
    "exponential_error",
    "sigmoid_error",
]


# --------------------------------------------------------------------------------------------
# Loss laws
# --------------------------------------------------------------------------------------------


def chinchilla(n_params, n_tokens, *, E, A, B, alpha, beta):
    """Chinchilla loss law in natural units: ``E + A N^-alpha + B D^-beta``.

    Parameters
    ----------
    n_params, n_tokens : array_like
        Model size N (all parameters) and training tokens D.
    E, A, B, alpha, beta : array_like
        Irreducible loss (nats/token), amplitudes and exponents.

    Examples
    --------
    >>> float(chinchilla(7e10, 1.4e12, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28))  # doctest: +ELLIPSIS
    1.93...
    """
    n = jnp.asarray(n_params, dtype=jnp.result_type(float))
    d = jnp.asarray(n_tokens, dtype=jnp.result_type(float))
    return E + A * n ** (-alpha) + B * d ** (-beta)


def gadre(n_params, n_tokens, *, E, A, B, eta):
    """Gadre et al. (2024) tied-exponent law in natural units: ``E + A N^-eta + B D^-eta``.

    ``eta`` here is the exponent on N and D; the paper's compute exponent is ``eta / 2``
    (see :func:`gadre_paper_form`).
    """
    return chinchilla(n_params, n_tokens, E=E, A=A, B=B, alpha=eta, beta=eta)


def gadre_paper_form(*, A, B, eta):
    """Convert the N, D form of the tied law to the paper's ``L(C, M)`` form.

    ``A N^-eta + B D^-eta = (a M^e + b M^-e) C^-e`` with ``C = 6ND``, ``M = D/N``, ``e = eta/2``,
    ``a = A 6^e`` and ``b = B 6^e``.

    Returns
    -------
    dict
        ``{"a": ..., "b": ..., "eta_compute": ...}``.

    Examples
    --------
    >>> f = gadre_paper_form(A=400.0, B=900.0, eta=0.3)
    >>> round(float(f["eta_compute"]), 3)
    0.15
    """
    e = np.asarray(eta) / 2.0
    six = 6.0**e
    return {"a": np.asarray(A) * six, "b": np.asarray(B) * six, "eta_compute": e}


def _log_mu_chinchilla(p: Mapping[str, Array], x_n: Array, x_d: Array) -> Array:
    terms = jnp.stack(
        jnp.broadcast_arrays(
            p["log_E"], p["a"] - p["alpha"] * x_n, p["b"] - p["beta"] * x_d
        ),
        axis=0,
    )
    return logsumexp(terms, axis=0)


def _log_mu_gadre(p: Mapping[str, Array], x_n: Array, x_d: Array) -> Array:
    q = dict(p)
    q["alpha"] = q["beta"] = p["eta"]
    return _log_mu_chinchilla(q, x_n, x_d)


@dataclass(frozen=True)
class LawSpec:
    """A registered loss law.

    Attributes
    ----------
    name : str
        Registry key.
    params : tuple of str
        Sampled parameters in centred form (``E`` is sampled on its natural scale, the model
        uses ``log_E``).
    formula : str
        Human-readable formula in natural units.
    log_mu : callable
        ``log_mu(params, x_n, x_d)`` with centred log predictors; ``params`` holds ``log_E``,
        ``a``, ``b`` and the exponents.
    exponents : tuple of str
        The exponent parameters (used for identifiability checks and reporting).
    natural_params : tuple of str
        Parameters reported in natural units by :meth:`to_natural`.
    """

    name: str
    params: tuple[str, ...]
    formula: str
    log_mu: Callable[[Mapping[str, Array], Array, Array], Array]
    exponents: tuple[str, ...]
    natural_params: tuple[str, ...]

    def size_exponent(self, p: Mapping):
        return p["alpha"] if "alpha" in p else p["eta"]

    def data_exponent(self, p: Mapping):
        return p["beta"] if "beta" in p else p["eta"]

    def to_natural(self, p: Mapping, log_n0: float, log_d0: float) -> dict:
        """Centred parameters -> natural units ``E, A, B`` and exponents (numpy, any shape)."""
        alpha = np.asarray(self.size_exponent(p))
        beta = np.asarray(self.data_exponent(p))
        out = {
            "E": np.asarray(p["E"]),
            "A": np.exp(np.asarray(p["a"]) + alpha * log_n0),
            "B": np.exp(np.asarray(p["b"]) + beta * log_d0),
        }
        for k in self.exponents:
            out[k] = np.asarray(p[k])
        return out

    def loss(self, p: Mapping, n_params, n_tokens, log_n0: float, log_d0: float) -> Array:
        """Mean-law loss for centred parameters ``p`` at natural-unit sizes."""
        x_n = jnp.log(jnp.asarray(n_params, dtype=float)) - log_n0
        x_d = jnp.log(jnp.asarray(n_tokens, dtype=float)) - log_d0
        q = dict(p)
        q.setdefault("log_E", jnp.log(p["E"]))
        return jnp.exp(self.log_mu(q, x_n, x_d))


LOSS_LAWS: dict[str, LawSpec] = {
    "chinchilla": LawSpec(
        name="chinchilla",
        params=("E", "a", "b", "alpha", "beta"),
        formula="L(N, D) = E + A N^-alpha + B D^-beta",
        log_mu=_log_mu_chinchilla,
        exponents=("alpha", "beta"),
        natural_params=("E", "A", "B", "alpha", "beta"),
    ),
    "gadre": LawSpec(
        name="gadre",
        params=("E", "a", "b", "eta"),
        formula="L(N, D) = E + A N^-eta + B D^-eta  (= E + (a M^(eta/2) + b M^(-eta/2)) C^(-eta/2))",
        log_mu=_log_mu_gadre,
        exponents=("eta",),
        natural_params=("E", "A", "B", "eta"),
    ),
}


def get_law(name: str) -> LawSpec:
    """Look up a loss law by name, with an error listing the registered ones."""
    try:
        return LOSS_LAWS[name]
    except KeyError:
        raise ValueError(
            f"unknown loss law {name!r}; registered laws: {sorted(LOSS_LAWS)}"
        ) from None


# --------------------------------------------------------------------------------------------
# Error laws: downstream top-1 error as a function of loss
# --------------------------------------------------------------------------------------------
#
# Both laws are bounded by the task's *chance-level error* c (1 - random-guess accuracy; for an
# average of tasks, the mean of the tasks' chance errors): a model whose loss tends to that of a
# uniform guess cannot beat chance, and no error is negative. They are sampled in a centred form
# (the error at a reference loss L_ref near the middle of the data, as a fraction of c), because
# the natural parameters (eps, k, gamma) of Gadre et al. are nearly collinear on 6 runs: k alone
# moves by e^(gamma L) across the data. ``from_sampled`` maps the centred form back.
#
# Units. The loss may be in any unit (nats/token, bits/byte, a per-task loss): the rate of each
# law is sampled per unit of *relative* loss, ``gamma_rel = gamma L_ref`` (``slope_rel`` for the
# sigmoid), which is unchanged when the loss is rescaled (nats -> bits is a factor 1/ln 2,
# nats/token -> bits/byte a factor tokens/byte / ln 2). L_ref is the median observed loss.
#
# Saturation. ``sigmoid`` saturates at chance for large losses *and* at a learned floor (the best
# reachable error, i.e. the accuracy ceiling, with a prior; see default_error_priors) for small
# ones. ``exponential`` (Gadre et al.) saturates only at chance: it runs to 0 error.


def exponential_error(loss, *, eps, k, gamma, chance=None):
    """Gadre et al. (2024) downstream error law: ``Err(L) = eps - k exp(-gamma L)``.

    .. math::

        \\operatorname{Err}(L) = \\operatorname{clip}\\bigl(\\varepsilon - k\\,e^{-\\gamma L},\\;
        0,\\; \\min(\\varepsilon, c)\\bigr)

    ``eps`` is the error as L -> infinity, which should not exceed the chance-level error ``c``;
    with ``k, gamma > 0`` the error falls as the loss falls. The clip keeps a prediction in
    ``[0, min(eps, chance)]`` even for parameters outside the prior's support (``chance=None``
    skips the chance bound).

    Parameters
    ----------
    loss : array_like
        Eval loss (any unit; Gadre et al. use nats/token).
    eps, k, gamma : array_like
        Saturation error, amplitude and rate (per unit of loss).
    chance : array_like, optional
        Chance-level error of the task (or task average).

    Examples
    --------
    >>> round(float(exponential_error(2.5, eps=0.809, k=3.9, gamma=1.05)), 4)
    0.5265
    """
    loss = jnp.asarray(loss, dtype=jnp.result_type(float))
    hi = eps if chance is None else jnp.minimum(eps, chance)
    return jnp.clip(eps - k * jnp.exp(-gamma * loss), 0.0, hi)


def sigmoid_error(loss, *, chance, floor, slope, midpoint):
    """Sigmoid between an error floor and chance level (AI2's model-ladder form).

    .. math::

        \\operatorname{Err}(L) = f + (c - f)\\,\\sigma\\bigl(s\\,(L - L_{mid})\\bigr)

    Near chance ``c`` for large losses, near the floor ``f`` (the best reachable error: the
    task's accuracy ceiling is ``1 - f``) for small ones; ``slope`` s > 0 is per unit of loss and
    ``midpoint`` is where the error is half-way between f and c (Bhagia et al. 2024
    fit this shape from task loss to accuracy). Clipped to ``[0, chance]``.

    Examples
    --------
    >>> round(float(sigmoid_error(3.0, chance=0.75, floor=0.15, slope=1.5, midpoint=3.0)), 3)
    0.45
    """
    loss = jnp.asarray(loss, dtype=jnp.result_type(float))
    err = floor + (chance - floor) * sigmoid(slope * (loss - midpoint))
    return jnp.clip(err, 0.0, chance)


def _exponential_from_sampled(p: Mapping[str, Array], chance, loss_ref) -> dict[str, Array]:
    # err_ref = Err(L_ref) in (0, c); eps in (err_ref, c); k from Err(L_ref) = eps - k e^(-g L_ref)
    # the rate is sampled per unit of *relative* loss (gamma_rel = gamma L_ref), so its prior
    # means the same in nats/token, bits/byte or any other unit of loss
    gamma = p["gamma_rel"] / loss_ref
    err_ref = chance * p["err_ref_frac"]
    eps = err_ref + (chance - err_ref) * p["eps_gap"]
    k = (eps - err_ref) * jnp.exp(gamma * loss_ref)
    return {"eps": eps, "k": k, "gamma": gamma}


def _sigmoid_from_sampled(p: Mapping[str, Array], chance, loss_ref) -> dict[str, Array]:
    # err_ref = Err(L_ref) in (0, c); floor in (0, err_ref); midpoint solves Err(L_ref) = err_ref;
    # slope_rel = slope L_ref is unit-free (see _exponential_from_sampled)
    slope = p["slope_rel"] / loss_ref
    err_ref = chance * p["err_ref_frac"]
    floor = err_ref * p["floor_frac"]
    q = (err_ref - floor) / (chance - floor)
    midpoint = loss_ref - (jnp.log(q) - jnp.log1p(-q)) / slope
    return {"floor": floor, "slope": slope, "midpoint": midpoint}


@dataclass(frozen=True)
class ErrorLawSpec:
    """A registered error law.

    Attributes
    ----------
    name : str
        Registry key.
    params : tuple of str
        Natural parameters of ``fn`` (besides ``chance``, which is data, not fitted).
    sampled : tuple of str
        The parameters the model samples (centred on the reference loss; see
        :func:`~bayes_scaling.laws.priors.default_error_priors`).
    formula : str
        Human-readable formula.
    fn : callable
        ``fn(loss, *, chance, **params)``: error in ``[0, chance]``.
    from_sampled : callable
        ``from_sampled(sampled, chance, loss_ref) -> {param: value}`` (jax.numpy, any shape).
    """

    name: str
    params: tuple[str, ...]
    sampled: tuple[str, ...]
    formula: str
    fn: Callable[..., Array]
    from_sampled: Callable[[Mapping[str, Array], Array, Array], dict[str, Array]]

    def error(self, p: Mapping[str, Array], loss, chance) -> Array:
        """Mean error at ``loss`` for natural parameters ``p`` (broadcasting)."""
        return self.fn(loss, chance=chance, **{k: p[k] for k in self.params})


ERROR_LAWS: dict[str, ErrorLawSpec] = {
    "exponential": ErrorLawSpec(
        name="exponential",
        params=("eps", "k", "gamma"),
        sampled=("err_ref_frac", "eps_gap", "gamma_rel"),
        formula="Err(L) = eps - k exp(-gamma L),  0 <= Err <= eps <= chance",
        fn=exponential_error,
        from_sampled=_exponential_from_sampled,
    ),
    "sigmoid": ErrorLawSpec(
        name="sigmoid",
        params=("floor", "slope", "midpoint"),
        sampled=("err_ref_frac", "floor_frac", "slope_rel"),
        formula="Err(L) = floor + (chance - floor) sigmoid(slope (L - midpoint))",
        fn=sigmoid_error,
        from_sampled=_sigmoid_from_sampled,
    ),
}


def get_error_law(name: str) -> ErrorLawSpec:
    """Look up an error law by name, with an error listing the registered ones."""
    try:
        return ERROR_LAWS[name]
    except KeyError:
        raise ValueError(
            f"unknown error law {name!r}; registered laws: {sorted(ERROR_LAWS)}"
        ) from None
