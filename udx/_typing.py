"""Array shape aliases shared by the udx kernels (annotations only: numpy does not check shapes)."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["BoolArray1D", "Float64Array1D", "Int64Array1D"]

#: One-dimensional, contiguous ``float64`` array.
Float64Array1D: TypeAlias = npt.NDArray[np.float64]
#: One-dimensional, contiguous ``int64`` array (nanosecond times, counts).
Int64Array1D: TypeAlias = npt.NDArray[np.int64]
#: One-dimensional ``bool`` array (flags).
BoolArray1D: TypeAlias = npt.NDArray[np.bool_]
