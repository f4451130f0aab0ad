"""Choosing the compute device, with a clear error when a GPU is asked for but absent."""

from __future__ import annotations


def resolve_device(device: str = "auto"):
    """``auto`` -> CUDA if available else CPU; ``cuda``/``cuda:N`` must exist, else a clear error."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} was requested but no CUDA GPU is available here; "
                               "use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {device!r} was requested but only {torch.cuda.device_count()} GPU(s) exist")
    return dev
