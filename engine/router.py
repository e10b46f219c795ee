"""Compatibility name: the router's work now lives in ``engine.execution.core``.

``ExecutionRouter`` is the execution core (risk gate, group-committed journal, venue); kept so
code written against the former module keeps importing.
"""

from engine.execution.core import ExecutionCore as ExecutionRouter

__all__ = ["ExecutionRouter"]
