"""A meta-regression bubble plot on the Freeman–Tukey scale.

The 300-study synthetic benchmark crashed the build here: Freeman–Tukey values
back-transform only at a study size (Miller 1978) and a regression line has
none, so the plot has to stay on the double-arcsine scale instead of raising.
"""

import io

import numpy as np
from matplotlib.image import imread

from synthesis import effects
from synthesis.heterogeneity import design_matrix, meta_regression
from synthesis.report.hetplots import bubble_png


def test_pft_meta_regression_bubble_plot_draws_on_the_double_arcsine_scale():
    events, n = [30, 45, 12, 80, 22], [40, 50, 30, 90, 35]
    es = effects.proportion(events, n, "PFT")
    # PFT of 30/40 by hand: ½[asin√(30/41) + asin√(31/41)] = ½(1.026321 + 1.054268) = 1.040294
    assert abs(es.yi[0] - 1.040294) < 1e-6
    X, names = design_matrix([2019, 2020, 2021, 2022, 2023], "year")
    mr = meta_regression(es.yi, es.vi, X, names, method="REML")
    png = bubble_png("CRS incidence", mr, "year", "publication year", "PFT")
    image = imread(io.BytesIO(png), format="png")
    assert image.ndim == 3 and image.shape[0] > 100 and np.isfinite(image).all()
