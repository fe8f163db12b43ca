#!/usr/bin/env bash
# The commands that regenerate every digits figure of the README and docs/ (CPU, 1 torch thread per run; each
# section prints its table). Without an argument: list the sections and their commands; with section names: run them.
#
#   bench/digits_figures.sh                     # list
#   bench/digits_figures.sh methods ratebp      # run two sections
#   PYTHON=.venv/bin/python bench/digits_figures.sh all
#
# Core-minutes are measured on the 2-core development machine (torch 2.14.1 CPU, spikingjelly 2.0.0); the training
# runs reuse finished run directories, so a second call only prints.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

declare -A COST CMDS
ORDER=(default methods pruning ratebp dsr asgl claims asgl60)

COST[default]="~0.1 core-min"
CMDS[default]="$PY launch.py logger=none hardware.num_threads=1 hydra.run.dir=runs/figures/default"

# README 'Every method on the same footing': 27 runs (9 methods x seeds 0-2), then the summary.csv
COST[methods]="~2 core-min"
CMDS[methods]="$PY launch.py -m sweep=methods logger=none hardware.num_threads=1 hydra.sweep.dir=multirun/figures_methods
$PY -m snn_methods.report multirun/figures_methods --out reports/figures_methods"

# README 'Digits comparison' (pruning) and the Grad R alpha sweep; the table shares its runs with bench/claims.py
COST[pruning]="~17 core-min (57 runs of ~18 s; ~5 left once bench/claims.py has run)"
CMDS[pruning]="$PY bench/pruning_digits.py --threads 1 --root runs/claims/runs/pruning
$PY bench/pruning_digits.py --threads 1 --root runs/claims/runs/pruning --sweep"

# README rate-BP: digits accuracy (neuron lif and ratebp_lif) and the memory / time table
COST[ratebp]="~8 core-min"
CMDS[ratebp]="$PY bench/ratebp_digits.py
$PY bench/ratebp_digits.py neuron=ratebp_lif
$PY bench/ratebp_vs_bptt.py --threads 1"

# README DSR: accuracy over seeds 0-4 at T 5 and T 20
COST[dsr]="~6 core-min"
CMDS[dsr]="$PY bench/accuracy_seeds.py --seeds 5 --threads 1 T=5 'model=dsr_mlp T=5' 'method=dsr neuron=dsr_lif model=dsr_mlp T=5' 'method=dsr neuron=dsr_if model=dsr_mlp T=5' 'method=dsr neuron=dsr_lif T=5' 'method=dsr neuron=dsr_if T=5'
$PY bench/accuracy_seeds.py --seeds 5 --threads 1 T=20 'model=dsr_mlp T=20' 'method=dsr neuron=dsr_lif model=dsr_mlp T=20' 'method=dsr neuron=dsr_if model=dsr_mlp T=20'"

# README ASGL width robustness: the MLP sweep and the ResNet sweep, then the table of each
COST[asgl]="~25 core-min"
CMDS[asgl]="$PY launch.py -m sweep=asgl_width seed=0,1,2 scheduler=cosine logger=none hardware.num_threads=1 hydra.sweep.dir=multirun/figures_asgl_mlp
$PY launch.py -m sweep=asgl_width seed=0,1,2 scheduler=cosine logger=none hardware.num_threads=1 model=asgl_resnet18 'model.widths=[8,16,32,64]' T=2 epochs=10 hydra.sweep.dir=multirun/figures_asgl_resnet
$PY bench/asgl_width_table.py multirun/figures_asgl_mlp
$PY bench/asgl_width_table.py multirun/figures_asgl_resnet"

# docs/claims.md: the five claims
COST[claims]="~27 core-min"
CMDS[claims]="$PY bench/claims.py"

# docs/claims.md, claim 3 beyond the driver's 20 epochs: SG and ASGL at widths 2.5, 5, 10 with 60 epochs, width lr 3e-3
COST[asgl60]="~19 core-min (18 runs of ~63 s)"
CMDS[asgl60]="$PY launch.py -m sweep=asgl_width neuron.width=2.5,5,10 seed=0,1,2 scheduler=cosine model=asgl_resnet18 'model.widths=[8,16,32,64]' T=2 epochs=60 optimizer.neuron.lr=0.003 logger=none hardware.num_threads=1 hydra.sweep.dir=multirun/figures_asgl60
$PY bench/asgl_width_table.py multirun/figures_asgl60"

if [ $# -eq 0 ]; then
    for s in "${ORDER[@]}"; do
        printf '## %s (%s)\n%s\n\n' "$s" "${COST[$s]}" "${CMDS[$s]}"
    done
    exit 0
fi
[ "$1" = all ] && set -- "${ORDER[@]}"
for s in "$@"; do
    if [ -z "${CMDS[$s]+x}" ]; then
        echo "unknown section '$s' (one of: ${ORDER[*]} all)" >&2
        exit 2
    fi
done
for s in "$@"; do
    while IFS= read -r cmd; do
        echo "+ $cmd" >&2
        eval "$cmd"
    done <<< "${CMDS[$s]}"
done
