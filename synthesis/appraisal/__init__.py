"""Appraisal: risk of bias per study, GRADE certainty per comparison, Summary of Findings.

grade.py        GRADE rules on plain typed inputs (no I/O)
smallstudy.py   Egger's and Peters' tests (publication bias at k >= 10)
plan_models.py  the plan's `appraisal:` (per analysis) and `sof:` (top level)
assess.py       from a fit and the study files to an Appraisal (rob, sensitivity, GRADE)
sof.py          Summary of Findings rows (relative and absolute effects, statements)
sofwrite.py     SoF as Markdown, CSV, HTML fragment and DOCX
robplots.py     robvis-style traffic-light and weighted summary plots
outputs.py      plot files, appraisal.md, the index section, the forest rob column
review.py       the review-wide appraisal of `carsynth build`
"""
