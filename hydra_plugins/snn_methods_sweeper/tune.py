"""An Optuna study through Hydra's `-m` and its launchers: what the grid sweeper runs when `hydra.sweeper.study`
is set (sweeps/tune_*.yaml). Why not the released hydra-optuna-sweeper 1.3.0: it needs optuna<3 (2.10.1), whose
SQLite storage fails beside SQLAlchemy 2.x (its schema check asserts; it needs SQLAlchemy 1.4 and alembic<1.14);
it adds n_trials more trials on every relaunch and leaves a killed trial RUNNING forever. This drives a current
optuna through its ask-and-tell API instead:

- the study lives in `<hydra.sweep.dir>/study.db` (SQLite; `storage` for another URL); launched again, the
  same command counts the finished trials, re-launches a trial that was running when the study was killed (same
  parameters, same directory: the run resumes from its last.pt) and asks only for the trials still missing;
- `n_jobs` trials are asked at once and go to the launcher as one batch (one SLURM array with launcher=slurm;
  the TPE sampler's constant liar keeps them apart);
- a trial's value is what the job returns (`objective`, a key of results.json); a failed or diverged run is a
  FAIL trial and the study goes on;
- `constraint: {key: final.connectivity, max: 0.1}`: maximise the objective subject to key <= max. Optuna's
  constrained TPE uses it while sampling and the best trial is the best FEASIBLE one (a penalised objective would
  mix accuracy and connectivity in one number whose weight decides the ranking);
- `final_seeds`: the best configuration is trained again with these seeds (directories final/seed=S), the
  val-selected numbers a leaderboard reports;
- `<sweep dir>/study.json` says everything a report needs (written after every batch).
"""
from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from omegaconf import OmegaConf

log = logging.getLogger(__name__)
DEFAULTS = dict(params={}, n_trials=20, n_jobs=1, direction="maximize", storage=None, name="study",
                sampler={"name": "TPESampler", "seed": 0, "n_startup_trials": 5, "constant_liar": True},
                constraint=None, final_seeds=[1, 2, 3])


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def distribution(override: Any):
    """An Optuna distribution from a Hydra sweep override: choice(a,b) / a,b | range(lo,hi[,step]) |
    interval(lo,hi) | tag(log, interval(lo,hi)) (as the hydra-optuna-sweeper reads them)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if override.is_choice_sweep():
        return CategoricalDistribution(list(override.sweep_string_iterator()))
    value = override.value()
    log_scale = "log" in getattr(value, "tags", set())
    if override.is_range_sweep():
        ints = all(isinstance(x, int) for x in (value.start, value.stop, value.step))
        kind = IntDistribution if ints else FloatDistribution
        return kind(value.start, value.stop - value.step, step=value.step)
    if override.is_interval_sweep():
        if log_scale and value.start <= 0:
            _fail(f"{override.get_key_element()}: a log interval needs a positive lower bound")
        return FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise ValueError(f"{override.input_line}: not a search dimension")


def _value(x: Any) -> str:
    return repr(x) if isinstance(x, float) else str(x)


class Study:
    """One study: the sweeper's launcher and config, the search space, the storage."""

    def __init__(self, sweeper: Any, spec: Mapping[str, Any], arguments: Sequence[str]):
        import optuna
        from hydra.core.override_parser.overrides_parser import OverridesParser

        unknown = set(spec) - set(DEFAULTS)
        if unknown:
            _fail(f"hydra.sweeper.study has no key {', '.join(sorted(unknown))}: use {', '.join(DEFAULTS)}")
        self.spec = {**DEFAULTS, **spec}
        c = _plain(self.spec["constraint"])
        if c and (set(c) != {"key", "max"}):
            _fail(f"hydra.sweeper.study.constraint: give {{key: RESULTS_KEY, max: VALUE}}, not {c}")
        self.spec["constraint"] = c if c and c["max"] is not None else None   # max null: no cap
        self.sweeper, self.launcher, self.config = sweeper, sweeper.launcher, sweeper.config
        self.dir = Path(str(self.config.hydra.sweep.dir))
        parser = OverridesParser.create(config_loader=sweeper.hydra_context.config_loader)
        given = parser.parse_overrides([f"{k}={v}" for k, v in (self.spec["params"] or {}).items()])
        command = parser.parse_overrides(list(arguments))
        keys = {o.get_key_element() for o in command}
        self.space: dict[str, Any] = {}
        self.fixed: list[str] = []
        for o in [*[g for g in given if g.get_key_element() not in keys], *command]:   # the command line wins
            if o.is_sweep_override():
                self.space[o.get_key_element()] = distribution(o)
            else:
                self.fixed.append(o.input_line)
        if not self.space:
            _fail("the study has no search space: give hydra.sweeper.study.params (sweeps/tune_*.yaml)")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.dir.mkdir(parents=True, exist_ok=True)
        storage = self.spec["storage"] or f"sqlite:///{(self.dir / 'study.db').resolve()}"
        self.study = optuna.create_study(study_name=self.spec["name"], storage=storage, load_if_exists=True,
                                         direction=self.spec["direction"], sampler=self._sampler())
        self._check_same_study()

    # ------------------------------------------------------------------------------------------- setup
    def _sampler(self):
        import warnings

        import optuna

        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)   # constant_liar
        cfg = dict(self.spec["sampler"] or {})
        cls = getattr(optuna.samplers, str(cfg.pop("name", "TPESampler")), None)
        if cls is None:
            _fail(f"hydra.sweeper.study.sampler.name: optuna.samplers has no {self.spec['sampler']['name']}")
        if self.spec["constraint"]:
            cfg["constraints_func"] = lambda trial: [trial.user_attrs.get("constraint", math.inf)]
        return cls(**cfg)

    def _identity(self) -> dict:
        from optuna.distributions import distribution_to_json

        return {"space": {k: distribution_to_json(d) for k, d in sorted(self.space.items())},
                "fixed": sorted(self.fixed), "constraint": _plain(self.spec["constraint"]),
                "direction": self.spec["direction"]}

    def _check_same_study(self) -> None:
        """A relaunch must be the same study: mixing trials of two budgets or spaces would make its best a lie."""
        mine, stored = self._identity(), self.study.user_attrs.get("identity")
        if stored is None:
            self.study.set_user_attr("identity", mine)
        elif stored != mine:
            diff = [k for k in mine if mine[k] != stored.get(k)]
            _fail(f"{self.dir} holds a study with other settings ({', '.join(diff)}: was {stored[diff[0]]}, "
                  f"now {mine[diff[0]]}); give a new hydra.sweep.dir")

    # ------------------------------------------------------------------------------------------- running
    def _job(self, overrides: Sequence[str], subdir: str) -> list[str]:
        from hydra_plugins.snn_methods_sweeper.grid import _quote

        return [*overrides, f"hydra.sweep.subdir={_quote(subdir)}"]

    def _launch(self, jobs: list[list[str]], first: int) -> list[Any]:
        return list(self.launcher.launch(jobs, initial_job_idx=first))

    def _record(self, number: int, ret: Any, run_dir: Path) -> bool:
        """Tell the study trial `number`'s outcome; True when it completed."""
        from optuna.trial import TrialState
        from snn_methods.results import lookup, read

        try:
            value = ret.return_value
        except BaseException as e:   # the job failed: the launcher re-raises its exception here
            log.warning("trial %d failed: %s", number, str(e).splitlines()[0] if str(e) else type(e).__name__)
            self.study.tell(number, state=TrialState.FAIL)
            return False
        results = read(run_dir / "results.json") or {}
        if value is None or not math.isfinite(float(value)) or not results:
            log.warning("trial %d returned no objective (%r)", number, value)
            self.study.tell(number, state=TrialState.FAIL)
            return False
        trial = self.live[number]
        trial.set_user_attr("connectivity", results["final"].get("connectivity"))
        trial.set_user_attr("wall_time_s", results.get("wall_time_s"))
        if self.spec["constraint"]:
            c = self.spec["constraint"]
            got = lookup(results, str(c["key"]))    # a missing value counts as dense (1.0)
            trial.set_user_attr("constraint", (1.0 if got is None else float(got)) - float(c["max"]))
        self.study.tell(number, float(value))
        return True

    def run(self) -> list[Any]:
        from optuna.trial import Trial, TrialState

        tic = time.perf_counter()
        trials = self.study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state.is_finished()]
        stale = [t for t in trials if t.state == TrialState.RUNNING]   # the study was killed while they ran
        for t in [t for t in stale if "overrides" not in t.user_attrs]:   # killed between ask and launch
            self.study.tell(t.number, state=TrialState.FAIL)
        stale = [t for t in stale if "overrides" in t.user_attrs]
        n_trials, n_jobs = int(self.spec["n_trials"]), max(1, int(self.spec["n_jobs"]))
        log.info("study %s in %s: %d of %d trials finished, %d to resume, %d to ask", self.spec["name"], self.dir,
                 len(done), n_trials, len(stale), max(0, n_trials - len(trials)))
        returns = []
        self.live = {t.number: Trial(self.study, t._trial_id) for t in stale}   # number -> the running trial
        while True:
            batch = [(t.number, t.user_attrs["overrides"]) for t in stale[:n_jobs]]
            stale = stale[n_jobs:]
            while len(batch) < n_jobs and len(self.study.trials) < n_trials:
                trial = self.study.ask(self.space)
                self.live[trial.number] = trial
                overrides = [*self.fixed, *(f"{k}={_value(v)}" for k, v in trial.params.items())]
                trial.set_user_attr("overrides", overrides)
                batch.append((trial.number, overrides))
            if not batch:
                break
            jobs = [self._job(o, f"trial_{n:03d}") for n, o in batch]
            results = self._launch(jobs, batch[0][0])
            ok = [self._record(n, r, self.dir / f"trial_{n:03d}") for (n, _), r in zip(batch, results)]
            returns.append(results)
            self.write()
            if not any(ok) and not any(t.state == TrialState.COMPLETE for t in self.study.trials):
                _fail(f"every trial so far failed (see {self.dir}/trial_*/launch.log); stopping the study")
        best = self.best()
        if best is None:
            _fail(f"no trial of {self.dir} completed")
        if not self.feasible(best):
            log.warning("no trial met the constraint %s: taking the closest, trial %d", self.spec["constraint"],
                        best.number)
        log.info("study done in %.0f s: best trial %d, %s = %.4f, %s", time.perf_counter() - tic, best.number,
                 self.config.get("objective"), best.value, " ".join(self.best_overrides(best)[len(self.fixed):]))
        returns += self.finals(best)
        self.write()
        return returns

    # ------------------------------------------------------------------------------------------- outcome
    def feasible(self, trial: Any) -> bool:
        return not self.spec["constraint"] or trial.user_attrs.get("constraint", math.inf) <= 0

    def best(self):
        """The best feasible complete trial; without a feasible one, the one that misses the cap least."""
        from optuna.trial import TrialState

        sign = 1 if self.spec["direction"] == "maximize" else -1
        complete = [t for t in self.study.trials if t.state == TrialState.COMPLETE]
        feasible = [t for t in complete if self.feasible(t)]
        if feasible:
            return max(feasible, key=lambda t: (sign * t.value, -t.number))
        return min(complete, key=lambda t: (t.user_attrs.get("constraint", math.inf), -sign * t.value)) \
            if complete else None

    def best_overrides(self, best: Any) -> list[str]:
        return list(best.user_attrs["overrides"])

    def finals(self, best: Any) -> list[Any]:
        """The best configuration with each final seed (a finished one is not run again)."""
        seeds = [int(s) for s in self.spec["final_seeds"] or []]
        todo = []
        for s in seeds:
            if not self.sweeper.finished(self.dir / "final" / f"seed={s}"):
                base = [o for o in self.best_overrides(best) if o.split("=", 1)[0].lstrip("+~") != "seed"]
                todo.append(self._job([*base, f"seed={s}"], f"final/seed={s}"))
        if not todo:
            return []
        log.info("training the best configuration (trial %d) with seeds %s", best.number, seeds)
        results = self._launch(todo, len(self.study.trials))
        failed = [r for r in results if r.status.name != "COMPLETED"]
        if failed:
            _fail(f"{len(failed)} of the final runs failed (see {self.dir}/final/*/launch.log)")
        return [results]

    def write(self) -> None:
        from snn_methods.results import write

        best = self.best()
        trials = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                   "connectivity": t.user_attrs.get("connectivity"), "wall_time_s": t.user_attrs.get("wall_time_s"),
                   "feasible": self.feasible(t), "dir": f"trial_{t.number:03d}"} for t in self.study.trials]
        choices = _plain(OmegaConf.select(self.config, "hydra.runtime.choices")) or {}
        write(self.dir / "study.json", {
            "study": self.spec["name"], "method": choices.get("method"), "dataset": choices.get("dataset"),
            "model": choices.get("model"), "objective": self.config.get("objective"),
            "direction": self.spec["direction"], "n_trials": int(self.spec["n_trials"]),
            "epochs": self.config.get("epochs"), "T": self.config.get("T"),
            "space": {k: repr(d) for k, d in self.space.items()}, "fixed": self.fixed,
            "constraint": _plain(self.spec["constraint"]), "sampler": _plain(self.spec["sampler"]),
            "best": None if best is None else {"number": best.number, "value": best.value, "params": best.params,
                                               "feasible": self.feasible(best),
                                               "overrides": self.best_overrides(best)},
            "final_seeds": list(self.spec["final_seeds"] or []),
            "final_dirs": [f"final/seed={s}" for s in self.spec["final_seeds"] or []],
            "trials": trials})


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node) if OmegaConf.is_config(node) else node
