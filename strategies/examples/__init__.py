"""Example strategies to copy."""
