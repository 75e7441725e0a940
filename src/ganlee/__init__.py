"""ganlee: look-elsewhere calibration of semi-supervised resonance searches with WGAN toys."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
