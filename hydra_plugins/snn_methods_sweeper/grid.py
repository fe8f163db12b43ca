"""The suite's Hydra sweeper (`hydra/sweeper=grid`, the default in conf/config.yaml): Hydra's basic sweeper
plus two things.

1. **Blocks** (a union of grids). `hydra.sweeper.params` is one Cartesian grid, as in Hydra; each entry of
   `hydra.sweeper.blocks` is another grid whose jobs are added to the sweep, crossed with `params` and the
   command line. A sparsity sweep is then one job array although every method has its own knob:
       params: {seed: 0,1,2}
       blocks:
         - {method: grad_rewire, pruning.alpha: 1e-4,1e-3}
         - {method: stds, pruning.flat_width: 1,2}
   gives 3 x (2 + 2) = 12 jobs. The command line wins over both (as for Hydra's params); a key that some
   blocks sweep (pruning.alpha above) is replaced in those blocks only.
2. **Finished jobs are skipped** (`skip_finished`, default true). Every job's directory is computed as the
   launcher would (`hydra.sweep.dir`/`hydra.sweep.subdir`) and given to it; a job whose directory already
   holds a complete results.json is not launched again, and the others keep their directories (so re-running
   a sweep with a fixed `hydra.sweep.dir=...` after a crash launches only the unfinished jobs, which resume
   from last.pt). Directory names leave out the sub-keys of `exclude_keys` too (hardware.num_threads, like
   hardware), and a group override's '/' becomes '.' (no nested directories).

3. **Studies**: with `hydra.sweeper.study` set (sweeps/tune_*.yaml) it runs an Optuna study instead of the grid
   (tune.py). It is this sweeper's mode, not a sweeper of its own, because conf/config.yaml fixes
   hydra/sweeper=grid and Hydra lets no sweep file override a group the primary config overrides.

Every job is composed before anything is launched (as Hydra's basic sweeper does), so a sweep naming an
option that does not exist fails before the first SLURM job is queued.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _as_overrides(params: Mapping[str, Any] | None) -> list[str]:
    return [f"{key}={_value(value)}" for key, value in (params or {}).items()]


def _quote(value: str) -> str:
    """A Hydra override value that stays one literal string (directory names hold '=' and ',')."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class GridSweeper(BasicSweeper):
    def __init__(self, max_batch_size: int | None = None, params: Mapping[str, Any] | None = None,
                 blocks: Sequence[Mapping[str, Any]] | None = None, skip_finished: bool = True,
                 study: Mapping[str, Any] | None = None) -> None:
        # BasicSweeper.__init__ only sets these; it is not called because Hydra's plugin scan re-executes its
        # module, and its super(BasicSweeper, self) then names a class this one does not derive from
        self.max_batch_size, self.params = max_batch_size, dict(params or {})
        self.hydra_context = self.config = self.launcher = None
        self.blocks = [dict(b) for b in (blocks or [])]
        self.skip_finished = skip_finished
        self.study = study

    # ----------------------------------------------------------------------------------- the job list
    def job_overrides(self, arguments: Sequence[str]) -> list[list[str]]:
        """Every job's overrides, in launch order: params x (each block in turn) x the command line.
        A command-line key that some blocks sweep replaces the values of those blocks only."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader if self.hydra_context else None)

        def key(line: str) -> str:
            return parser.parse_overrides([line])[0].get_key_element().lstrip("+~")
        blocks = self.blocks or [{}]
        block_keys = [{key(line) for line in _as_overrides(b)} for b in blocks]
        swept_by_blocks = set().union(*block_keys)
        jobs: list[list[str]] = []
        for block, keys in zip(blocks, block_keys):
            own = [a for a in arguments if key(a) not in swept_by_blocks - keys]
            lines = _as_overrides(self.params) + _as_overrides(block) + own
            [grid] = self.split_arguments(parser.parse_overrides(lines), None)
            jobs.extend(job for job in grid if job not in jobs)
        return jobs

    def exclude_subkeys(self, overrides: Sequence[str]) -> list[str]:
        """Directory names leave out the keys in override_dirname.exclude_keys AND their sub-keys
        (`hardware` also leaves out hardware.num_threads): returns the override that says so, if needed."""
        excluded = list(self.config.hydra.job.config.override_dirname.exclude_keys)
        keys = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
        extra = [k for k in keys if k not in excluded and any(k.startswith(e + ".") for e in excluded)]
        return [f"hydra.job.config.override_dirname.exclude_keys=[{','.join(excluded + extra)}]"] if extra else []

    def job_dir(self, overrides: Sequence[str], num: int) -> tuple[Path, str]:
        """(output directory, subdir) of job `num` -- composes it exactly as the launcher will."""
        cfg: DictConfig = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = num
            # a group override (neuron/surrogate=sigmoid) would otherwise nest the directory
            cfg.hydra.job.override_dirname = str(cfg.hydra.job.override_dirname).replace("/", ".")
        subdir = str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
        return Path(str(cfg.hydra.sweep.dir)) / subdir, subdir

    @staticmethod
    def finished(run_dir: Path) -> bool:
        path = run_dir / "results.json"
        if not path.is_file():
            return False
        from snn_methods.results import is_complete   # imported here: Hydra imports every plugin at start-up

        try:
            return is_complete(json.loads(path.read_text()))
        except (OSError, ValueError):
            return False

    # ----------------------------------------------------------------------------------- sweep
    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        if self.study:
            from hydra_plugins.snn_methods_sweeper.tune import Study

            return Study(self, self.study, arguments).run()
        tic = time.perf_counter()
        jobs = self.job_overrides(arguments)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        existed = sweep_dir.is_dir()
        todo: list[list[str]] = []
        done = 0
        for num, overrides in enumerate(jobs):
            overrides = [*overrides, *self.exclude_subkeys(overrides)]
            try:
                run_dir, subdir = self.job_dir(overrides, num)
            except HydraException as e:   # e.g. a block naming a method this checkout does not have
                from snn_methods.config import one_line

                print(f"error: sweep job #{num} ({' '.join(overrides)}): {one_line(str(e))}; nothing was launched",
                      file=sys.stderr)
                raise SystemExit(2) from None
            if self.skip_finished and existed and self.finished(run_dir):
                done += 1
                log.info("#%d %s: finished (%s), not launched again", num, " ".join(overrides), run_dir)
                continue
            # pin the directory: the launcher numbers only the jobs it is given
            todo.append([*overrides, f"hydra.sweep.subdir={_quote(subdir)}"])
        log.info("sweep of %d jobs in %s: %d finished, %d to launch (composed in %.1f s)",
                 len(jobs), sweep_dir, done, len(todo), time.perf_counter() - tic)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        returns = []
        batches = [todo] if not self.max_batch_size else \
            [todo[i:i + self.max_batch_size] for i in range(0, len(todo), self.max_batch_size)]
        launched, failed = 0, []
        for batch in (b for b in batches if b):
            results = self.launcher.launch(batch, initial_job_idx=launched)
            failed += [r for r in results if r.status == JobStatus.FAILED]   # the other jobs go on
            launched += len(batch)
            returns.append(results)
        if failed:
            print(f"error: {failure_summary(failed, launched)}", file=sys.stderr)
            raise SystemExit(1)
        return returns


def failure_summary(failed: Sequence[Any], launched: int) -> str:
    """'1 of 3 jobs failed: <why>; the others finished', with each failed job's overrides and one-line reason."""
    from snn_methods.config import one_line
    from snn_methods.errors import UserError

    def why(r: Any) -> str:
        e = r._return_value    # the job's exception (JobReturn.return_value would re-raise it)
        text = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {one_line(str(e))[:300]}"
        out = OmegaConf.select(r.hydra_cfg, "hydra.runtime.output_dir") if r.hydra_cfg is not None else None
        where = f" (its log: {out})" if not isinstance(e, UserError) and out else ""
        overrides = " ".join(o for o in (r.overrides or []) if not o.startswith("hydra."))
        return f"[{overrides}] {text}{where}"
    others = "the others finished" if len(failed) < launched else "none finished"
    return f"{len(failed)} of {launched} jobs failed: {'; '.join(why(r) for r in failed)}; {others}"
