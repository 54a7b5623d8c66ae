#!/usr/bin/env bash
# The CamVid headline over seeds: `experiment=camvid` and the smp baseline (../shared/anchors/camvid_baseline.py),
# seeds 1, 2, 3 each, one after another, into one sweep folder that `python -m src.report` compares run by run.
# At the 20-minute protocol that is 2 hours: give the machine to it alone (the budget is wall clock).
#
# The baseline's runs become job folders after the preset's (3, 4, 5 for three seeds): overrides.yaml
# `baseline=smp_unet_r18 seed=N` and a metrics.json whose best_val and last_val are both its final weights'
# val scores (the script scores only those, and keeps no per-epoch history); its printed JSON line is kept
# beside it as baseline.json. Compare on the report's "final val mIoU", the protocol's score.
#
# usage: bash scripts/camvid_seeds.sh [sweep_dir]
#   env: CAMVID (data), SEEDS (1,2,3), MINUTES (20), SMP (the baseline's python: README "CamVid results"),
#        TRAIN_ARGS (extra overrides for the preset, e.g. for a short dry run)
set -euo pipefail
cd "$(dirname "$0")/.."
CAMVID=${CAMVID:-../shared/data/camvid}
SEEDS=${SEEDS:-1,2,3}
MINUTES=${MINUTES:-20}
SMP=${SMP:-/tmp/smp/bin/python}
SWEEP=${1:-outputs/camvid_seeds/$(date +%Y-%m-%d_%H-%M-%S)}
test -x "$SMP" || { echo "camvid_seeds: no baseline python at $SMP (README: python -m venv /tmp/smp ...)" >&2; exit 1; }

budget=()  # the preset's own budget is the protocol's 20 minutes: named only when it differs
[ "$MINUTES" = 20 ] || budget=("trainer.max_time=00:00:$(printf %02d "$MINUTES"):00")
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of overrides
.venv/bin/python -m src.train -m experiment=camvid "data.root=$CAMVID" "seed=$SEEDS" "${budget[@]}" \
  "hydra.sweep.dir=$SWEEP" ${TRAIN_ARGS:-}

job=$(find "$SWEEP" -mindepth 1 -maxdepth 1 -name '[0-9]*' | wc -l)
for seed in ${SEEDS//,/ }; do
  folder="$SWEEP/$job"
  mkdir -p "$folder/.hydra"
  printf -- '- data.root=%s\n- baseline=smp_unet_r18\n- seed=%s\n' "$CAMVID" "$seed" > "$folder/.hydra/overrides.yaml"
  CAMVID="$CAMVID" "$SMP" ../shared/anchors/camvid_baseline.py smp_unet_r18 "$MINUTES" "$seed" | tail -n 1 \
    > "$folder/baseline.json"
  .venv/bin/python - "$folder" <<'EOF'
import json, sys
from pathlib import Path

folder = Path(sys.argv[1])
result = json.loads((folder / "baseline.json").read_text())
val = {"val/miou": result["val"]["miou"], "val/acc": result["val"]["acc"], "epoch": result["epochs"] - 1}
metrics = {"best_val": val, "last_val": val, "epochs_run": result["epochs"], "global_steps": result["steps"],
           "history": [], "source": "../shared/anchors/camvid_baseline.py (final weights only)"}
(folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
EOF
  job=$((job + 1))
done
.venv/bin/python -m src.report "$SWEEP"
