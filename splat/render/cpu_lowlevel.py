"""Small numba helpers the CPU renderer's kernels share: integer floor/ceil and a prefetch hint.

Both exist because of what perf showed in the compiled kernels. numba lowers math.floor and
math.ceil of a float32 to libm calls, and each call in a hot loop spills every vector register
around it; plain arithmetic keeps the loop in registers. The compositor and the binning read
per-Gaussian data through index lists (random addresses), and their loop bodies are too long
for the CPU to run ahead to the next load on its own: without a prefetch a third of the
compositing time was spent waiting for those loads.

numba re-compiles a cached kernel only when its own file changes: touch cpu_project.py,
cpu_bin.py and cpu_raster.py too when changing anything here.
"""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@numba.njit(cache=True, inline="always")
def floor_int(x: float) -> int:
    """math.floor(x) as an int, without a libm call."""
    i = int(x)  # truncates towards zero
    return i - 1 if i > x else i


@numba.njit(cache=True, inline="always")
def ceil_int(x: float) -> int:
    """math.ceil(x) as an int, without a libm call."""
    i = int(x)
    return i + 1 if i < x else i


@intrinsic
def prefetch_row(typingctx, array, row):
    """Ask the CPU to start loading row `row` of a 2-D array into cache; results never change.

    Usage in a kernel: `prefetch_row(records, ids[k + 8])` a few iterations before reading it.
    """
    if not isinstance(array, types.Array) or array.ndim != 2 or not isinstance(row, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        array_type, row_type = signature.args
        view = context.make_array(array_type)(context, builder, args[0])
        index = [context.cast(builder, args[1], row_type, types.intp), context.get_constant(types.intp, 0)]
        pointer = cgutils.get_item_pointer2(
            context, builder, view.data, cgutils.unpack_tuple(builder, view.shape),
            cgutils.unpack_tuple(builder, view.strides), array_type.layout, index,
            wraparound=False, boundscheck=False,
        )
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        prefetch = builder.module.declare_intrinsic(
            "llvm.prefetch", [byte_pointer], ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]))
        # read, keep in all cache levels, data cache
        builder.call(prefetch, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, row), codegen
