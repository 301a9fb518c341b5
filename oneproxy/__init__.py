"""oneproxy."""
