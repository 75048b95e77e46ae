"""Effect sizes, models, heterogeneity, plots and the build."""

from .api import InputError, pool, pool_batch
from .effects import ZeroCellRule
from .models import PoolSettings
from .results import PoolResult

__all__ = ["pool", "pool_batch", "PoolResult", "PoolSettings", "ZeroCellRule", "InputError"]
__version__ = "0.1.0"
