"""The ``bayes-scaling`` command line."""
