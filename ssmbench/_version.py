"""The version of ssmbench (one place, read by the package and its provenance)."""

__version__ = "0.1.0"
