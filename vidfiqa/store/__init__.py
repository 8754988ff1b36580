"""Storage: the SQL store of runs, videos, tracks and templates, and the FAISS index beside it."""
