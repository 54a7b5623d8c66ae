"""Lightning callbacks of this project (the rest come from Lightning itself)."""
