"""Effect sizes, models, heterogeneity, plots and the build."""
