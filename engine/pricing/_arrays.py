"""Argument preparation shared by the vectorised public wrappers (broadcasting, dtype, shape)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


def broadcast_flat(
    is_call: ArrayLike, *floats: ArrayLike
) -> tuple[tuple[int, ...], NDArray[np.bool_], list[NDArray[np.float64]]]:
    """Broadcast ``is_call`` and the float arguments together (``np.broadcast_arrays`` rules).

    Returns the common shape, a flat contiguous bool array and flat contiguous float64 arrays.
    Inputs that are already contiguous float64 of the full shape are not copied.
    """
    arrays = np.broadcast_arrays(np.asarray(is_call), *[np.asarray(a) for a in floats])
    shape = arrays[0].shape
    flags = np.ascontiguousarray(arrays[0], dtype=np.bool_).reshape(-1)
    flat = [np.ascontiguousarray(a, dtype=np.float64).reshape(-1) for a in arrays[1:]]
    return shape, flags, flat


def broadcast_floats(*floats: ArrayLike) -> tuple[tuple[int, ...], list[NDArray[np.float64]]]:
    """Like :func:`broadcast_flat` without the boolean flag."""
    arrays = np.broadcast_arrays(*[np.asarray(a) for a in floats])
    shape = arrays[0].shape
    return shape, [np.ascontiguousarray(a, dtype=np.float64).reshape(-1) for a in arrays]


def shaped(out: NDArray[np.float64], shape: tuple[int, ...]) -> Any:
    """Reshape a flat result; a 0-d shape becomes a numpy float64 scalar."""
    res = out.reshape(shape)
    if shape == ():
        return res[()]
    return res
