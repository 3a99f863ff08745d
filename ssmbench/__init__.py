"""ssmbench: benchmark and theory-verification suite for state space models."""

__version__ = "0.1.0"
