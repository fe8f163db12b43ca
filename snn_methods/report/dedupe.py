"""One run per (config, seed): two sweeps that overlap (e.g. both ran bptt at T=4 with seeds 0-2) would otherwise
count each of those runs twice as two seeds, and the standard deviation over the seeds would come out too small."""
from __future__ import annotations

from snn_methods.report.collect import Run, _noise


def identity(run: Run) -> str | None:
    """What makes a run the same run: every config value except where/how it ran (the seed included).
    None without a config.yaml (nothing to compare: such a run is kept)."""
    if not run.config:
        return None
    what = sorted((k, repr(v)) for k, v in run.config.items() if not _noise(k) or k == "seed")
    return repr((run.results.get("method"), run.results.get("T"), run.results.get("seed"), what))


def dedupe(runs: list[Run]) -> tuple[list[Run], list[tuple[Run, Run]]]:
    """(the runs with one per identity -- the first found is kept --, [(left out, the run it duplicates)])."""
    kept: list[Run] = []
    first: dict[str, Run] = {}
    dropped: list[tuple[Run, Run]] = []
    for r in runs:
        key = identity(r)
        if key is not None and key in first:
            dropped.append((r, first[key]))
            continue
        if key is not None:
            first[key] = r
        kept.append(r)
    return kept, dropped
