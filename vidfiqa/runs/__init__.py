"""Runs that store, distribute and report: videos into the database and index, and back out."""
