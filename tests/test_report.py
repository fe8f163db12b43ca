"""The comparison report: grouping, mean +- std over seeds, CSVs, a self-contained HTML page with its figures."""
from __future__ import annotations

import base64
import csv
import json
import re
import statistics

import pytest
import yaml

from snn_methods.report import make_report
from snn_methods.report.__main__ import main


def _run(root, name, *, method="bptt", T=4, seed=0, acc=0.9, conn=1.0, alpha=None, surrogate_alpha=2.0, epochs=3):
    """A finished run directory as run() leaves it: results.json + the resolved config.yaml."""
    d = root / name
    d.mkdir(parents=True)
    history = [{"epoch": e, "val_acc": acc * (e + 1) / epochs, "test_acc": acc * (e + 1) / epochs,
                "train_loss": 1.0 / (e + 1)} for e in range(epochs)]
    results = {"method": method, "model": "mlp", "dataset": "digits", "T": T, "seed": seed, "epochs": epochs,
               "final": {"test_acc": acc, "val_acc": acc, "connectivity": conn, "firing_rate": 0.1,
                         "synops_per_sample": 2e6 * conn, "energy_pj_per_sample": 1.8e6 * conn},
               "best": {"val_acc": acc, "test_acc_at_best_val": acc, "test_acc_max": acc, "epoch": epochs - 1},
               "history": history, "wall_time_s": 10.0 + seed, "versions": {}}
    (d / "results.json").write_text(json.dumps(results))
    config = {"seed": seed, "T": T, "epochs": epochs, "hardware": {"device": "cpu", "num_threads": seed},
              "encoder": {"T": T}, "method": {"name": method},
              "neuron": {"surrogate": {"_target_": "spikingjelly.activation_based.surrogate.ATan",
                                       "alpha": surrogate_alpha}},
              "pruning": {"_target_": "snn_methods.pruning.NoPruning"} if alpha is None else
              {"_target_": "snn_methods.pruning.GradRewire", "alpha": alpha}}
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    return d


@pytest.fixture
def sweeps(tmp_path):
    a, b = tmp_path / "sparsity", tmp_path / "timesteps"
    for seed, accs in enumerate([(0.95, 0.93, 0.80), (0.97, 0.91, 0.70)]):
        _run(a, f"dense_{seed}", seed=seed, acc=accs[0])
        _run(a, f"gr_1e-3_{seed}", method="grad_rewire", alpha=1e-3, seed=seed, acc=accs[1], conn=0.1)
        _run(a, f"gr_1e-2_{seed}", method="grad_rewire", alpha=1e-2, seed=seed, acc=accs[2], conn=0.01)
    for T in (1, 2, 8):
        _run(b, f"T{T}", T=T, acc=0.5 + T / 20)
    (b / "unfinished").mkdir()
    (b / "unfinished" / "results.json").write_text('{"method": "bptt"}')        # partial: left out
    return tmp_path


def _rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_groups_aggregate_the_seeds_and_name_the_swept_knobs(sweeps, tmp_path):
    made = make_report([sweeps / "sparsity", sweeps / "timesteps"], out=tmp_path / "out")
    summary = _rows(made["summary"])
    assert [(r["method"], r["T"], r["pruning.alpha"], r["n_seeds"]) for r in summary] == [
        ("bptt", "1", "", "1"), ("bptt", "2", "", "1"), ("bptt", "4", "", "2"), ("bptt", "8", "", "1"),
        ("grad_rewire", "4", "0.001", "2"), ("grad_rewire", "4", "0.01", "2")]
    assert "encoder.T" not in summary[0] and "hardware.num_threads" not in summary[0]   # follows T / how it ran
    gr = summary[4]
    assert float(gr["test_acc_mean"]) == pytest.approx(0.92)
    assert float(gr["test_acc_std"]) == pytest.approx(statistics.stdev([0.93, 0.91]), rel=1e-5)
    assert float(gr["connectivity_mean"]) == pytest.approx(0.1) and float(gr["wall_time_s_mean"]) == 10.5
    assert summary[0]["test_acc_std"] == ""                        # one seed: no spread
    runs = _rows(made["runs"])
    assert len(runs) == 9 and {r["seed"] for r in runs} == {"0", "1"}


def test_the_page_is_self_contained_with_the_expected_figures(sweeps, tmp_path):
    made = make_report([sweeps], out=tmp_path / "out")
    page = made["html"].read_text()
    assert "<table>" in page and "grad_rewire" in page and "92.00 &plusmn; 1.41" in page
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    assert {alt.split(": ")[1] for alt, _ in images} == {"accuracy vs connectivity", "accuracy vs T",
                                                          "training curves"}
    for _, data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http" not in page.replace("http-equiv", "")              # nothing fetched from elsewhere


def test_surrogate_width_is_plotted_when_it_varies(tmp_path):
    for i, alpha in enumerate((2.0, 1.0, 0.4)):
        _run(tmp_path / "w", f"a{i}", surrogate_alpha=alpha, acc=0.9 - i / 10)
    made = make_report([tmp_path / "w"])
    assert "accuracy vs surrogate width" in made["html"].read_text()
    assert sorted(g.surrogate_width for g in made["tables"][("digits", "mlp")]) == [0.5, 1.0, 2.5]


def test_command_line(sweeps, tmp_path, capsys):
    assert main([str(sweeps / "sparsity"), "--out", str(tmp_path / "cli")]) == 0
    assert "6 runs in 3 settings" in capsys.readouterr().out
    assert (tmp_path / "cli" / "report.html").is_file()
    assert main([str(tmp_path / "nothing-here")]) == 2
    assert "no finished run" in capsys.readouterr().err


def test_wandb_report_is_built_offline(sweeps):
    """Only construction: saving a W&B Report needs a login and network (untested here)."""
    from snn_methods.report import wandb_report

    made = make_report([sweeps / "sparsity"])
    report = wandb_report.build(made["tables"], "me", "snn-methods", ["multirun/sparsity"], "test")
    assert report.project == "snn-methods" and len(report.blocks) == 2
    assert "| grad_rewire | 4 | 0.001 | 2 | 92.00 ± 1.41 |" in report.blocks[0].text
    panels = report.blocks[1].panels
    assert [type(p).__name__ for p in panels] == ["ScatterPlot", "ScatterPlot", "LinePlot", "RunComparer"]
    assert "multirun/sparsity" in str(report.blocks[1].runsets[0].filters)
