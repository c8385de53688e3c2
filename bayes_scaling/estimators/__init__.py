"""Estimators that own a posterior DataTree: LossLaw, ErrorLaw, PooledLossLaw; fit_many; netCDF save/load."""
