"""The controlled vocabularies of the extraction format (outcomes, exposures, grades,
grading scales, intents, comparator kinds), each term with what it means."""

from __future__ import annotations

OUTCOMES: dict[str, str] = {
    "cr": "complete response / remission (CR or CR with incomplete count recovery)",
    "mrd_negative_cr": "MRD-negative complete response",
    "orr": "overall response (CR + PR)",
    "os": "overall survival",
    "pfs": "progression-free survival",
    "efs": "event-free survival",
    "lfs": "leukaemia-free survival",
    "relapse": "relapse / cumulative incidence of relapse",
    "crs_any": "cytokine release syndrome, any grade",
    "crs_grade2plus": "cytokine release syndrome, grade 2 or higher",
    "crs_grade3plus": "cytokine release syndrome, grade 3 or higher",
    "crs_grade4": "cytokine release syndrome, grade 4 (or 4-5 where the paper groups them)",
    "icans_any": "ICANS, any grade",
    "icans_grade2plus": "ICANS, grade 2 or higher",
    "icans_grade3plus": "ICANS, grade 3 or higher",
    "icans_grade4": "ICANS, grade 4 (or 4-5 where the paper groups them)",
    "crs_and_icans": "CRS and ICANS in the same patient",
    "serious_infection": "serious (grade 3 or higher) infection",
    "infection_any": "infection, any grade",
    "treatment_use": "receipt of a toxicity-management drug (the exposure names which)",
}

#: Outcomes that are pooled together as one family (PFS, EFS and LFS all count
#: events of progression/relapse or death; a review may pool them as one family
#: and show each as a labelled subgroup).
OUTCOME_FAMILIES: dict[str, tuple[str, ...]] = {
    "pfs_family": ("pfs", "efs", "lfs"),
}

EXPOSURES: dict[str, str] = {
    "none": "no exposure: the record describes the whole cohort or a group",
    "gc": "glucocorticoids (any dose) for CRS/ICANS management",
    "gc_low_dose": "low-dose glucocorticoids (the study's threshold)",
    "gc_high_dose": "high-dose glucocorticoids (the study's threshold)",
    "gc_early": "early glucocorticoid initiation (the study's threshold)",
    "gc_long": "long glucocorticoid course (the study's threshold)",
    "tcz": "tocilizumab",
    "rux": "ruxolitinib",
    "crs": "cytokine release syndrome, any grade",
    "crs_grade3plus": "cytokine release syndrome, grade 3 or higher",
    "crs_grade": "CRS grade (ordinal or per category)",
    "icans": "ICANS, any grade",
    "icans_grade3plus": "ICANS, grade 3 or higher",
    "icans_grade": "ICANS grade (ordinal or per category)",
    "crs_and_icans": "CRS with concomitant ICANS",
    "crs_or_icans_grade3plus": "grade 3 or higher CRS or ICANS",
    "crs_or_icans_grade1to2": "grade 1-2 CRS and/or ICANS",
    "other": "another covariate (name it in exposure_label)",
}

RATIO_MEASURES = ("HR", "OR", "RR")

#: CRS and ICANS outcomes as (toxicity, grade threshold): the threshold is structured in
#: the vocabulary, so an analysis selects on it by naming the outcome.
TOXICITY_GRADES: dict[str, tuple[str, str]] = {
    "crs_any": ("crs", "any"), "crs_grade2plus": ("crs", ">=2"),
    "crs_grade3plus": ("crs", ">=3"), "crs_grade4": ("crs", "4"),
    "icans_any": ("icans", "any"), "icans_grade2plus": ("icans", ">=2"),
    "icans_grade3plus": ("icans", ">=3"), "icans_grade4": ("icans", "4"),
}

GRADING_SCALES: dict[str, str] = {
    "penn": "Penn CRS grading scale (Porter et al. 2018)",
    "lee2014": "Lee et al. 2014 CRS grading (Blood 124:188)",
    "astct2019": "ASTCT consensus grading of CRS and ICANS (Lee et al. 2019)",
    "ctcae": "NCI Common Terminology Criteria for Adverse Events (any version)",
    "cartox": "CARTOX / CRES grading (Neelapu et al. 2018)",
    "mskcc": "MSKCC CRS grading (Park et al. 2018)",
    "other": "another scale (name it in the notes)",
    "not_reported": "the paper does not say",
}

INTENTS: dict[str, str] = {
    "prophylactic": "given to every patient before any toxicity (e.g. at infusion)",
    "preemptive": "given at early signs (e.g. fever, grade 1 CRS, rising ferritin) to prevent "
                  "progression",
    "therapeutic": "given to treat established toxicity (e.g. grade >= 2 CRS)",
    "mixed": "more than one of the above in one group",
    "not_reported": "the paper does not say",
}

COMPARATOR_KINDS: dict[str, str] = {
    "concurrent": "patients treated in the same period and setting (the default)",
    "historical": "an earlier cohort of the same centre or trial",
    "external_trial": "patients of another trial (give its registration)",
}
