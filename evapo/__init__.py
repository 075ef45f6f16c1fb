"""Evapo: daily FAO-56 reference evapotranspiration, fused from several weather sources."""

__version__ = "0.1.0"
