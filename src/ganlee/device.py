"""Torch device selection from the config's ``device`` key."""

from __future__ import annotations

__all__ = ["resolve_device"]


def resolve_device(name: str = "auto"):
    """``auto`` -> CUDA when available else CPU; ``cuda`` without a GPU is a clear error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        msg = (
            "config key 'device' is 'cuda' but torch sees no CUDA device (set device: auto or cpu)"
        )
        raise RuntimeError(msg)
    return torch.device(name)
