"""Per-video stages: decode, detect, track, landmarks, quality, selection and templates."""
