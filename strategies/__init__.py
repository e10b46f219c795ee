"""Strategies: plugins built only on the public ``engine`` API."""
