"""NumPyro model functions: law + priors + noise model."""
