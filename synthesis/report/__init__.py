"""Presentation and outputs: what is drawn and written from an `AnalysisFit`.

forest_layout (ForestSpec for the forest plot), writers (results.csv/.md,
result.json), html (index.html), hetreport (the heterogeneity report), state
(incremental-build state and atomic writes). Nothing here fits a model.
"""
