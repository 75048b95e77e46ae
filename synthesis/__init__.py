"""Effect sizes, models, heterogeneity, plots and the build.

The public API is imported lazily so that the command line starts fast
(`carsynth build` with nothing to do must not pay for scipy and pandas).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["pool", "pool_batch", "PoolResult", "PoolSettings", "ZeroCellRule", "InputError"]

_LAZY = {
    "pool": "api", "pool_batch": "api", "InputError": "api",
    "PoolResult": "results", "PoolSettings": "models", "ZeroCellRule": "effects",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'synthesis' has no attribute {name!r}")
