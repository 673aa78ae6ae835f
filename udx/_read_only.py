"""The transform's input arrays are read-only wherever they are made, so each kernel sees one writability.

numba types an array argument by its ``writeable`` flag too, and compiles (or loads from its cache) one
specialization per mix of read-only and writable arguments. An array Arrow hands over without a copy is
read-only; one the transform copies (a read that spans two Arrow chunks, prints filtered out, a head joined in
front of a main read, quotes joined, a symbol without quotes) is writable. Left as they come, which a kernel
gets depends on each pass's data, and a pass of the running demo meets a new mix now and then: a compile in the
middle of a pass, 0.2-0.8 s of CPU holding the GIL (BENCHMARKS.md, "Freshness of the demo", helper democpu).

So every array that enters the compute (:mod:`udx._chunk_read`'s reads and joins, :class:`udx.liquidity_step.Quotes`
made empty or joined, the bar ends and shifted times of the realized spreads, :mod:`udx.realized_step`,
:mod:`udx.realized`) is made read-only where it is made: read-only, because Arrow's buffers are and cannot be
made writable without a copy, while ``setflags(write=False)`` costs nothing. No kernel writes into these arrays:
the kernels write only into the ``out_*`` arrays their wrappers allocate (writable, always). Arrays the compute
derives (``np.where``, a kernel's output, a boolean index) are writable, always, and need nothing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["read_only"]


def read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mark each array read-only (``setflags(write=False)``: no copy) and return them.

    Parameters
    ----------
    *arrays
        Arrays this code made or views of them; a caller's array is marked too, so pass views of arrays
        you do not own (a slice is a new view: its flag is its own).

    Returns
    -------
    tuple of numpy.ndarray
        The same objects, in order.

    Examples
    --------
    >>> a = np.arange(3)
    >>> (b,) = read_only(a[1:])
    >>> b.flags.writeable, a.flags.writeable
    (False, True)
    """
    for a in arrays:
        a.setflags(write=False)
    return arrays
