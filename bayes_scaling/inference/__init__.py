"""Samplers (compiled, cached NUTS; batched runs), diagnostics, JAX configuration."""
