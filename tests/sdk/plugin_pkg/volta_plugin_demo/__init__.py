"""A third-party strategy package for Volta (test fixture)."""
