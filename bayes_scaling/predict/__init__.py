"""Predictive draws, ScalingPredictor and decision queries built on fitted estimators."""
