"""Plots of fitted analyses."""
