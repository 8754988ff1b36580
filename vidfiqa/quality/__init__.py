"""Face quality scorers."""
