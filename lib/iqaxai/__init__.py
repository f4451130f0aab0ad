"""iqaxai: a reproducible companion for explainable image quality assessment research."""

__version__ = "0.1.0"
