"""Data parallelism for :func:`ssmbench.train.train`: the batch axis split over a device mesh.

With a mesh, the training step is one jit'd program partitioned by GSPMD: the data (and each
step's batch) are sharded on their leading (sequence) axis over the mesh's first axis, the
trainable parameters and the optimiser state are replicated. A loss that is a mean over the batch
then becomes a per-device partial sum and an all-reduce, and so does its gradient: the program is
the single-device one, and the results equal it up to the order of the floating-point reductions.

A mesh of one device is no mesh: the step is then exactly the single-device program.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = [
    "DATA_AXIS",
    "data_mesh",
    "resolve_mesh",
    "num_shards",
    "check_divisible",
    "replicated",
    "batch_sharded",
    "data_sharding",
    "step_shardings",
    "place_args",
    "constrain_batch",
    "mesh_key",
]

#: The axis name of the mesh that ``TrainConfig(devices="all")`` builds.
DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named ``"data"`` over ``devices`` (default: every device, ``jax.devices()``)."""
    devs = list(jax.devices() if devices is None else devices)
    return Mesh(np.array(devs), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def resolve_mesh(devices: str, mesh: Mesh | None) -> Mesh | None:
    """The mesh of a training run: ``mesh`` when given (it wins over ``devices``), else a mesh
    over every device for ``devices="all"``, else None. A one-device mesh gives None (the
    single-device program). The axes are made ``Auto`` (GSPMD partitions the step), so that a mesh
    from :func:`jax.make_mesh` (``Explicit`` axes by default) runs the same program."""
    if mesh is None:
        mesh = data_mesh() if devices == "all" else None
    if mesh is None or mesh.size == 1:
        return None
    if any(t != AxisType.Auto for t in mesh.axis_types):
        mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * mesh.devices.ndim)
    return mesh


def num_shards(mesh: Mesh | None) -> int:
    """How many ways the batch is split: the size of the mesh's first (data) axis; 1 without."""
    return 1 if mesh is None else int(mesh.shape[mesh.axis_names[0]])


def check_divisible(batch: int, mesh: Mesh | None, what: str = "batch size") -> None:
    """A ValueError unless ``batch`` sequences split evenly over the mesh's data axis."""
    n = num_shards(mesh)
    if batch % n:
        raise ValueError(
            f"data parallelism: the {what} {batch} is not divisible by the {n} devices of the "
            f"mesh's data axis {mesh.axis_names[0]!r}"  # type: ignore[union-attr]
        )


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding of the parameters and the optimiser state: a full copy on every device."""
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The sharding of the data: the leading (sequence) axis split over the mesh's first axis."""
    return NamedSharding(mesh, P(mesh.axis_names[0]))


def constrain_batch(batch: Any, mesh: Mesh | None) -> Any:
    """Inside the step: constrain every array of ``batch`` (ndim >= 1) to be sharded on its
    leading axis (nothing without a mesh)."""
    if mesh is None:
        return batch
    s = batch_sharded(mesh)
    return jax.tree.map(
        lambda z: jax.lax.with_sharding_constraint(z, s) if np.ndim(z) else z, batch
    )


def mesh_key(mesh: Mesh | None) -> Hashable:
    """What the compiled step depends on of the mesh (for the compile cache): the device ids in
    mesh order, the axis names and sizes; None without a mesh."""
    if mesh is None:
        return None
    return (tuple(int(d.id) for d in mesh.devices.flat), tuple(mesh.shape.items()))


def data_sharding(mesh: Mesh, n_seq: int | None) -> NamedSharding:
    """The sharding of the fixed data (``n_seq`` sequences): split on the leading axis, or
    replicated when ``n_seq`` does not split evenly (a minibatch is then drawn from the full copy
    and sharded inside the step)."""
    return (
        batch_sharded(mesh)
        if n_seq is not None and n_seq % num_shards(mesh) == 0
        else replicated(mesh)
    )


def step_shardings(mesh: Mesh | None, n_seq: int | None) -> dict[str, Any]:
    """The ``jax.jit`` keywords of the training step ``step(trainable, opt_state, step_idx,
    keys, data)``: everything replicated but the data (:func:`data_sharding`), every output
    replicated, so that one step's outputs are the next step's inputs as compiled. Nothing
    (``{}``) without a mesh."""
    if mesh is None:
        return {}
    rep = replicated(mesh)
    return {"in_shardings": (rep, rep, rep, rep, data_sharding(mesh, n_seq)), "out_shardings": rep}


def place_args(mesh: Mesh | None, n_seq: int | None, args: tuple[Any, Any, Any, Any]) -> tuple:
    """``(trainable, opt_state, keys, data)`` put where the compiled step expects them (see
    :func:`step_shardings`); unchanged without a mesh."""
    if mesh is None:
        return args
    s = step_shardings(mesh, n_seq)["in_shardings"]
    return jax.device_put(args, (s[0], s[1], s[3], s[4]))
