"""Evaluation: metrics and protocols over stored results; never re-runs models."""
