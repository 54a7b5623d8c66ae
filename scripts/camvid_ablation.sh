#!/usr/bin/env bash
# The CamVid ablation over seeds (README "CamVid results"): the preset and one lever per row at the 5-minute
# protocol, seeds 1, 2, 3 each, one row after another, gathered into one sweep folder whose job folders
# `python -m src.report` groups by overrides (the preset is job 0.., so every verdict is "row vs preset").
# 6 rows x 3 seeds x ~5.5 minutes is about 1 hour 40 minutes: give the machine to it alone (the budget is
# wall clock, so a shared CPU trains fewer steps).
#
# usage: bash scripts/camvid_ablation.sh [sweep_dir]
#   env: CAMVID (data), SEEDS (1,2,3), ROWS (row numbers to run, default all: 0 1 2 3 4 5)
set -euo pipefail
cd "$(dirname "$0")/.."
CAMVID=${CAMVID:-../shared/data/camvid}
SEEDS=${SEEDS:-1,2,3}
SWEEP=${1:-outputs/camvid_ablation/$(date +%Y-%m-%d_%H-%M-%S)}
PROTOCOL=(trainer.max_time=00:00:05:00 trainer.max_epochs=9 trainer.val_check_interval=405)
LEVERS=(
  ""                                                            # 0: the preset
  "model/loss=ce"                                               # 1: plain cross-entropy
  "model/loss=weighted_ce"                                      # 2: weighted CE without Dice
  "~model/scheduler"                                            # 3: constant LR
  "data/augment=strong"                                         # 4: random scale and crop
  "model.net.head_channels=3 model.net.dropout=[0.2,0.5]"       # 5: the reference's head and dropout
)
mkdir -p "$SWEEP/rows"
for row in ${ROWS:-0 1 2 3 4 5}; do
  # shellcheck disable=SC2086  # a lever is a list of overrides
  .venv/bin/python -m src.train -m experiment=camvid "data.root=$CAMVID" "${PROTOCOL[@]}" ${LEVERS[$row]} \
    "seed=$SEEDS" "hydra.sweep.dir=$SWEEP/rows/$row"
  job=$(find "$SWEEP" -mindepth 1 -maxdepth 1 -name '[0-9]*' | wc -l)
  for folder in $(find "$SWEEP/rows/$row" -mindepth 1 -maxdepth 1 -name '[0-9]*' | sort -V); do
    mv "$folder" "$SWEEP/$job"
    job=$((job + 1))
  done
done
.venv/bin/python -m src.report "$SWEEP"
