"""The run profiles and their one check: ``smoke`` (demo world, CPU, offline) and ``paper`` (real datasets)."""

from __future__ import annotations

PROFILES = ("smoke", "paper")

#: ``pretrained``: the papers' ImageNet (or released) weights; ``random``: the same architectures randomly
#: initialised, allowed only as the explicit dry-run switch (its outputs say so on every table and figure).
WEIGHTS = ("pretrained", "random")


def check_profile(profile: str) -> str:
    """``profile`` if it is a known profile, else a ValueError naming the choices."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    return profile


def check_weights(weights: str) -> str:
    """``weights`` if it is ``pretrained`` or ``random``, else a ValueError."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    return weights
