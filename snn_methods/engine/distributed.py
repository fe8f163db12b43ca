"""One run over several processes (DistributedDataParallel): which process am I, and the few collective
operations the loop needs. With one process every operation is the identity, so the loop has no branches.

Where rank and world size come from (`hardware.distributed: true`):
  - torchrun (or anything setting RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT);
  - a submitit job with several tasks (`launcher=slurm_8gpu hardware=gpu`, or submitit_local with tasks_per_node > 1):
    submitit's JobEnvironment gives the ranks, the first host of the job is the rendezvous, the port is
    derived from the job id (two jobs sharing a node do not collide).
Every process holds the whole model and its own neuron states (membrane potentials are not parameters or
buffers, so DDP never synchronises them); gradients are averaged by DDP; metrics are summed over the ranks;
only rank 0 writes files.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from typing import Any

import torch

from snn_methods.errors import ConfigError

log = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 300    # how long a finished rank waits for the others before tearing the group down


@dataclasses.dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False        # this object initialised the process group (and destroys it in close())
    in_group: bool = False          # a process group is in use (also with one process: hardware.group_of_one)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1 or self.in_group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------------------------- collectives
    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over the ranks (float64)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._device())
        torch.distributed.all_reduce(t)
        return t.tolist()

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag: true on at least one rank. One collective for all flags."""
        return tuple(v > 0 for v in self.sum([float(f) for f in flags]))

    def sum_counters(self, obj: Any) -> None:
        """Sum, over the ranks, the numeric attributes of a metrics probe (numbers and dicts of numbers, nested),
        in place: what each rank counted on its share of the data becomes the count over all the data."""
        if not self.enabled:
            return
        names = sorted(k for k, v in vars(obj).items() if not k.startswith("_") and _numeric(v))
        leaves: list[float] = []
        for name in names:
            _flatten(getattr(obj, name), leaves)
        totals = iter(self.sum(leaves)) if leaves else iter(())
        for name in names:
            setattr(obj, name, _rebuild(getattr(obj, name), totals))

    def broadcast(self, value: Any) -> Any:
        """Rank 0's value of a picklable object, on every rank."""
        if not self.enabled:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def check_same_parameters(self, model: torch.nn.Module, epoch: int) -> None:
        """Every rank must hold the same weights; a method whose update depends on the rank would otherwise
        train N different models silently."""
        if not self.enabled:
            return
        with torch.no_grad():
            local = sum(float(p.detach().double().sum()) for p in model.parameters())
        low, high = -self.sum_max([-local])[0], self.sum_max([local])[0]
        if abs(high - low) > 1e-6 * max(1.0, abs(high)):
            raise RuntimeError(f"after epoch {epoch + 1} the model's parameters differ between the ranks (checksums "
                               f"{low!r} .. {high!r}): an update depends on the rank (e.g. rank-specific random draws)")

    def sum_max(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self._device())
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return t.tolist()

    # ------------------------------------------------------------------------------------- model
    def wrap(self, model: torch.nn.Module, device: torch.device, find_unused_parameters: bool = False) -> torch.nn.Module:
        """The module the gradient rule calls: DDP around `model` (the same parameters), or `model` itself."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel   # loaded by multi-process runs only

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)

    def close(self, wait_for_all: bool = True) -> None:
        """Destroy the process group. After a normal end every rank first waits for the others: a rank that tears
        gloo down while another still talks to it can abort ("terminate called without an active exception").
        After an error nobody waits (the others may never come)."""
        if self.owns_group and torch.distributed.is_initialized():
            if wait_for_all and self.enabled:
                try:
                    if torch.distributed.get_backend() == "gloo":
                        torch.distributed.monitored_barrier(timeout=datetime.timedelta(seconds=CLOSE_TIMEOUT_S))
                    else:
                        torch.distributed.barrier()
                except RuntimeError as e:   # a rank that did not arrive: say so, then tear down anyway
                    log.warning("ranks did not meet before shutdown: %s", str(e).splitlines()[0])
            torch.distributed.destroy_process_group()
            self.owns_group = False

    def _device(self) -> torch.device:
        backend = torch.distributed.get_backend()
        return torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")


def _numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, dict) and bool(value) and all(_numeric(v) for v in value.values())


def _flatten(value: Any, out: list[float]) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            _flatten(value[key], out)
    else:
        out.append(float(value))


def _rebuild(value: Any, totals: Any) -> Any:
    if isinstance(value, dict):
        return {key: _rebuild(value[key], totals) for key in sorted(value)}
    total = next(totals)
    return int(round(total)) if isinstance(value, int) else total


# ------------------------------------------------------------------------------------------------ setup
def environment() -> tuple[int, int, int, str | None, str | None]:
    """(rank, world size, local rank, master address, master port) of this process; (0, 1, 0, None, None)
    when it was started alone."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:                       # torchrun
        return (int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)),
                env.get("MASTER_ADDR"), env.get("MASTER_PORT"))
    if env.get("SUBMITIT_EXECUTOR"):                                 # a submitit job (SLURM or local)
        import submitit   # loaded in submitit jobs only

        job = submitit.JobEnvironment()
        if job.num_tasks > 1:
            port = str(20_000 + int("".join(c for c in job.raw_job_id if c.isdigit()) or 0) % 20_000)
            return job.global_rank, job.num_tasks, job.local_rank, job.hostnames[0], port
    return 0, 1, 0, None, None


def setup(hardware: Any, device: torch.device) -> tuple[Distributed, torch.device]:
    """Join (or start) the process group when `hardware.distributed` is true and there are several processes.
    Returns the Distributed and this process's device (cuda:LOCAL_RANK on a multi-GPU node)."""
    if not hardware.get("distributed", False):
        return Distributed(), device
    import torch.distributed as td   # loaded by multi-process runs only

    rank, world, local, addr, port = environment()
    if world == 1 and not hardware.get("group_of_one", False):
        log.warning("hardware.distributed is true but this is the only process: training on one process "
                    "(start several with torchrun --nproc_per_node=N, or launcher=slurm_8gpu hardware=gpu)")
        return Distributed(), device
    if device.type == "cuda":
        count = torch.cuda.device_count()
        device = torch.device("cuda", local % count if count > 1 else 0)   # one GPU visible per task: cuda:0
        torch.cuda.set_device(device)
    if td.is_initialized():
        return Distributed(td.get_rank(), td.get_world_size(), local, in_group=True), device
    backend = hardware.get("dist_backend", "auto")
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if addr:
        os.environ.setdefault("MASTER_ADDR", addr)
    if port:
        os.environ.setdefault("MASTER_PORT", port)
    td.init_process_group(backend=backend, rank=rank, world_size=world)
    log.info("distributed: %d processes (%s), this is rank %d on %s", world, backend, rank, device)
    return Distributed(rank, world, local, owns_group=True, in_group=True), device


def per_process_batch(batch_size: int, dist: Distributed) -> int:
    if batch_size % dist.world_size:
        raise ConfigError(f"batch_size={batch_size} is invalid with {dist.world_size} processes: batch_size is the "
                          f"global batch and must be a multiple of the number of processes")
    return batch_size // dist.world_size
