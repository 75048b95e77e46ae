"""Names shared by the engine and the command line (kept import-light on purpose)."""

from dataclasses import dataclass

TAU2_METHODS = ("DL", "REML", "ML", "PM", "SJ", "HE", "EB")
COMMON_METHODS = ("FE",)
COUNT_METHODS = ("MH", "PETO")
#: binomial GLMM by maximum likelihood (synthesis.glmm; metafor rma.glmm): PLO and OR only
GLMM_METHODS = ("GLMM",)
ALL_METHODS = COMMON_METHODS + TAU2_METHODS + COUNT_METHODS + GLMM_METHODS
PI_TYPES = ("hts", "z", "k-1")


@dataclass(frozen=True)
class Defaults:
    """The one set of pooling defaults: `synthesis.pool`, `pool_batch`, `PoolSettings`,
    `carsynth pool` and the review plan's `model:` all read these (docs/methods.md,
    "Defaults", says why; tests/test_defaults.py checks they agree).

    REML τ² (Viechtbauer 2005; Langan et al. 2019), the Hartung–Knapp–Sidik–Jonkman
    t interval with the ad hoc correction that never lets it be narrower than the
    Wald interval (Knapp & Hartung 2003; Röver, Knapp & Friede 2015; Jackson et al.
    2017, §4.3; metafor ``test="adhoc"``, meta ``adhoc.hakn.ci="se"``), a t prediction
    interval with k − 2 df (Higgins, Thompson & Spiegelhalter 2009), 95% level.
    """

    method: str = "REML"
    hksj: bool = True
    hksj_adhoc: bool = True
    pi: str = "hts"
    level: float = 0.95


DEFAULTS = Defaults()
