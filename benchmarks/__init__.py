"""Repeatable performance measurements; each module's ``run(output_path)`` writes JSON."""
