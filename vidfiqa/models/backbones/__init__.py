"""Network definitions shared by model families (torch)."""
