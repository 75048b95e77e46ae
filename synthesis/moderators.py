"""The moderators the heterogeneity report reads from the study files.

A module of its own, importing nothing, so that the command line can list them in
its help without loading the statistics.
"""

from __future__ import annotations

#: moderators read from the study files: name -> (kind, description)
MODERATORS: dict[str, tuple[str, str]] = {
    "age_group": ("categorical", "population.age_group (paediatric/adult/mixed)"),
    "car_target": ("categorical", "population.car_targets, joined (e.g. CD19+CD22)"),
    "centres": ("categorical", "design.centres (single/multi)"),
    "outcome": ("categorical", "the record's outcome (PFS/EFS/LFS within a family)"),
    "adjusted": ("categorical", "adjusted (multivariable) or unadjusted estimate"),
    "year": ("continuous", "citation.year"),
    "median_age": ("continuous", "population.median_age (years)"),
    "share_children": ("continuous", "population.share_children (%)"),
    "n_centres": ("continuous", "design.n_centres"),
}
