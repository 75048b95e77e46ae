"""Appraisal: risk of bias per study, GRADE certainty per comparison, Summary of Findings.

grade.py        GRADE rules on plain typed inputs (no I/O)
plan_models.py  the plan's `appraisal:` (per analysis) and `sof:` (top level)
sof.py          Summary of Findings rows (relative and absolute effects, statements)
sofwrite.py     SoF as Markdown, CSV, HTML fragment and DOCX
robplots.py     robvis-style traffic-light and weighted summary plots
"""
