"""Names shared by the engine and the command line (kept import-light on purpose)."""

TAU2_METHODS = ("DL", "REML", "ML", "PM", "SJ", "HE", "EB")
COMMON_METHODS = ("FE",)
COUNT_METHODS = ("MH", "PETO")
ALL_METHODS = COMMON_METHODS + TAU2_METHODS + COUNT_METHODS
PI_TYPES = ("hts", "z", "k-1")
