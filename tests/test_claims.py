"""bench/claims.py: the connectivity matching, the verdict rules, and the driver on a tiny budget (its figures come
from the run directories it trains, and a re-run reuses them)."""
from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import claims  # noqa: E402


def test_accuracy_at_interpolates_in_log_connectivity_between_the_bracketing_runs():
    points = [(0.02, 76.0), (0.10, 96.0), (0.0, 10.0), (0.04, 90.0)]     # unsorted, one collapsed run
    # 5 % lies between 4 % (90) and 10 % (96): linear in log(connectivity)
    frac = math.log(0.05 / 0.04) / math.log(0.10 / 0.04)
    assert claims.accuracy_at(points, 0.05) == pytest.approx(90.0 + 6.0 * frac)
    assert claims.accuracy_at(points, 0.04) == pytest.approx(90.0)           # on a run: its value
    # 1 % between the collapsed run (0 -> the floor 1e-4) and 2 %
    frac = math.log(0.01 / claims.FLOOR) / math.log(0.02 / claims.FLOOR)
    assert claims.accuracy_at(points, 0.01) == pytest.approx(10.0 + 66.0 * frac)
    assert claims.accuracy_at(points, 0.2) is None                           # never extrapolated
    assert claims.accuracy_at([(0.05, 80.0)], 0.05) == 80.0
    assert claims.accuracy_at([], 0.05) is None


def test_verdict_rules():
    a = claims.summary([96.0, 96.5, 97.0])
    assert claims.compare(a, claims.summary([90.0, 90.5, 91.0]), ">=")[0].startswith("holds (better")
    assert claims.compare(a, claims.summary([96.2, 96.8, 96.5]), ">=")[0].startswith("holds (")
    assert claims.compare(claims.summary([90.0, 90.5, 91.0]), a, ">=")[0].startswith("does NOT hold")
    # '~': within a point passes even with no spread; two points below does not
    assert claims.compare(claims.summary([95.5] * 3), claims.summary([96.0] * 3), "~")[0].startswith("holds")
    assert claims.compare(claims.summary([94.0] * 3), claims.summary([96.0] * 3), "~")[0].startswith("does NOT")
    assert claims.compare(claims.summary([None]), a, ">=")[0].startswith("undecided")


def test_parse_claims_rejects_unknown_numbers():
    assert claims.parse_claims("3,1") == [1, 3]
    for bad in ("6", "x", ""):
        with pytest.raises(Exception, match="--claims takes numbers"):
            claims.parse_claims(bad)


def test_quick_driver_derives_its_verdicts_from_the_runs_and_reuses_them(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(claims, "DSR_T", [5, 10])                  # 12 tiny runs
    report = claims.main(["--quick", "--claims", "4", "--seeds", "0", "1", "--out", str(tmp_path)])
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("claim 4:")]
    assert len(printed) == 2 * len(claims.DSR_T)                   # DSR LIF and IF against BPTT, at each T
    saved = json.loads((tmp_path / "claims.json").read_text())
    assert saved["claims"]["4"]["verdicts"] == printed
    assert "## Claim 4" in (tmp_path / "claims.md").read_text()
    assert report["runs_trained"] == 3 * len(claims.DSR_T) * 2
    # every figure is the mean over the run directories' own results.json
    for T in claims.DSR_T:
        for label, overrides in claims.DSR_CONFIGS.items():
            accs = [100 * json.loads((tmp_path / "runs" / "dsr" / f"{claims.slug(overrides)}_T{T}_seed{s}" /
                                      "results.json").read_text())["final"]["test_acc"] for s in (0, 1)]
            cell = saved["claims"]["4"]["data"][f"{label} T={T}"]
            assert cell["values"] == pytest.approx(accs)
            assert cell["mean"] == pytest.approx(statistics.fmean(accs))
            if label != "BPTT":
                assert any(f"{label} ~ BPTT at T={T}" in line and claims.fmt(cell) in line for line in printed)
    # a re-run trains nothing and reports the same figures
    again = claims.main(["--quick", "--claims", "4", "--seeds", "0", "1", "--out", str(tmp_path)])
    assert again["runs_trained"] == 0
    assert again["claims"][4]["data"] == report["claims"][4]["data"]
