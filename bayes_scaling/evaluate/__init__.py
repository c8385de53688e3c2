"""Backtests, scores, simulation-based calibration, simulated designs, model comparison."""
