"""The coordinates NUTS samples a loss law in (the model's density is unchanged).

A loss law's data pin down the loss *inside* the design; the irreducible loss ``E`` is set only
by the curvature, so the posterior runs along a ridge: a lower ``E`` goes with larger reducible
terms ``a``, ``b`` and smaller exponents. The reducible loss at the design centre is
``mu_0 - E``, so along the ridge ``a`` and ``b`` follow ``log(mu_0 - E)`` and the exponents'
logits follow ``-log(mu_0 - E)`` (a fixed local slope ``eta (mu_0 - E) / mu_0``). In NumPyro's
default coordinates (``logit(E / e_upper)``, ``a``, ``b``, ``logit(eta)``) that ridge is *bent*,
and one dense mass matrix cannot follow a bent ridge: on Gadre et al.'s compute-cutoff splits
(3 corpora x c4_val and paloma_ptb, seeds 0-11, no discrepancy) 10 of 72 default fits had
R-hat > 1.01, a chain that wandered into the low-``E`` tail having adapted its step size there
(correlations of ``logit(E)`` with the others 0.94-0.98).

Here the other parameters are *sheared* along the ridge: with ``t = log(m - E)`` for a fixed
reference loss ``m`` (the geometric mean of the fitted losses, a little above the bound of
``E``), NUTS samples

.. math::

    z_a = a - t, \\qquad z_b = b - t, \\qquad z_k = \\operatorname{logit}(k) + t
    \\quad (k \\in \\{\\eta, \\alpha, \\beta\\}),

and ``E`` in its usual coordinate. A shear has unit Jacobian, and each parameter keeps its
prior: only the coordinates change, so the posterior is the same. On the fit above the
correlations with ``logit(E)`` fell to 0.01-0.81 and the largest shift of the conditional means
across ``logit(E)``'s quantile bins from 1.1-1.9 to 0.1-0.8 conditional sds.

Priors of ``E`` without an upper bound (a user's ``LogNormal``, say) leave the default
coordinates: ``m - E`` would not stay positive.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import AffineTransform, ComposeTransform, biject_to

__all__ = ["shear_reference", "reference_loss", "sheared"]

#: Amplitudes (log reducible terms at the design centre) move with +t, exponents' logits with -t.
AMPLITUDES = ("a", "b")


class _ShearedSupport(constraints._Interval):
    """``inner``, reached from the real line through a shift by ``shift`` then ``inner``'s own
    bijection.

    An ``_Interval`` (with ``inner``'s bounds, as arrays) only so that NumPyro sees a support
    that depends on other values and replays the model to constrain draws: the shift depends on
    the draw of ``E``, and transforms fixed at initialisation would constrain every draw of the
    other parameters with the first draw's ``E``.
    """

    def __init__(self, inner, shift):
        shift = jnp.asarray(shift)
        zero = jnp.zeros_like(shift)
        super().__init__(getattr(inner, "lower_bound", -jnp.inf) + zero,
                         getattr(inner, "upper_bound", jnp.inf) + zero)
        self.inner, self.shift = inner, shift
        self.is_discrete = inner.is_discrete
        self.event_dim = inner.event_dim

    def __call__(self, x):
        return self.inner(x)

    def feasible_like(self, prototype):
        return self.inner.feasible_like(prototype)

    def tree_flatten(self):
        return (self.inner, self.shift), (("inner", "shift"), dict())


@biject_to.register(_ShearedSupport)
def _sheared_bijection(constraint):
    return ComposeTransform([AffineTransform(constraint.shift, 1.0), biject_to(constraint.inner)])


class _Sheared(dist.Distribution):
    """``base`` sampled in a shifted coordinate: the same samples and log density."""

    arg_constraints: dict = {}
    pytree_data_fields = ("base", "shift")

    def __init__(self, base, shift):
        self.base, self.shift = base, shift
        super().__init__(batch_shape=base.batch_shape, event_shape=base.event_shape)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return _ShearedSupport(self.base.support, self.shift)

    def sample(self, key, sample_shape=()):
        return self.base.sample(key, sample_shape)

    def log_prob(self, value):
        return self.base.log_prob(value)

    @property
    def mean(self):
        return self.base.mean

    @property
    def variance(self):
        return self.base.variance


def reference_loss(log_loss, mask, e_upper):
    """The geometric mean of the fitted losses (the runs ``mask`` keeps), at least
    ``1.05 e_upper``; ``1.25 e_upper`` without observations (prior predictive draws, where the
    coordinates do not matter)."""
    if log_loss is None:
        return 1.25 * e_upper
    w = jnp.ones_like(log_loss) if mask is None else jnp.asarray(mask, dtype=log_loss.dtype)
    mean = jnp.sum(w * log_loss) / jnp.maximum(jnp.sum(w), 1.0)
    return jnp.maximum(jnp.exp(mean), 1.05 * e_upper)


def shear_reference(e_prior, ref):
    """``m`` for the shear given the prior of ``E``: ``ref`` lifted above the prior's upper
    bound, or None (no shear) when that prior has none."""
    s = e_prior.support
    if not isinstance(s, constraints._Interval) or e_prior.event_shape:
        return None
    lo, hi = s.lower_bound, s.upper_bound
    return jnp.maximum(ref, hi + 0.05 * (hi - lo))


def sheared(name, d, E, m):
    """The prior ``d`` of law parameter ``name`` in the sheared coordinate (see the module):
    amplitudes shifted by ``+log(m - E)``, anything else (exponents) by ``-log(m - E)`` on its
    unconstrained scale; ``d`` itself when ``m`` is None or ``d`` has an event shape."""
    if m is None or d.event_shape:
        return d
    t = jnp.log(m - E)
    return _Sheared(d, t if name in AMPLITUDES else -t)
