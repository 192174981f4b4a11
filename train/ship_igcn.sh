#!/usr/bin/env bash
# Train IGCN ("Ours") and the rows of its Tables 1-3 ("SRGAN": IGCN 1x1 alone; "Ours-": no AU classifier loss) into
# one runs folder, publish IGCN and its SRGAN baseline (the app shows them side by side), and measure the paper
# tables.
#   bash train/ship_igcn.sh                         # the shipped CPU-scale runs (train/configs/igcn_cpu.yaml) in runs/
#   CONFIG=paper bash train/ship_igcn.sh            # the paper's schedule (train/configs/igcn.yaml)
#   bash train/ship_igcn.sh steps=100               # extra key=value overrides for every run
#   RUNS=runs/try PUBLISH=0 bash train/ship_igcn.sh # kept apart and not published
#   THREADS=1 PARALLEL=1 bash train/ship_igcn.sh    # the three runs at once, one thread each (the fastest use of a
#                                                   # small CPU), then the tables
# Needs the shipped AU detector (the supervisor), AU evaluators, expression classifier (the feature network) and
# MPENet (bash train/ship_priors.sh, train/ship_mpenet.sh). Every run resumes where it stopped when started again.
set -euo pipefail
cd "$(dirname "$0")/.."
suffix="_cpu"
[ "${CONFIG:-cpu}" = paper ] && suffix=""
runs=${RUNS:-runs}
launch=(accelerate launch --num_processes 1 --num_cpu_threads_per_process "${THREADS:-$(nproc)}" train/train.py)
igcn() {  # variant, then overrides
  local variant=$1; shift
  # the baselines' own end-of-run test is their card's only; the tables score every row on the same 1,000 faces
  local test=(); [ "$variant" = full ] || test=(options.test_length=300)
  "${launch[@]}" --task igcn --config "train/configs/igcn$suffix.yaml" output_dir="$runs/igcn-$variant" \
    options.variant="$variant" "${test[@]}" "$@" --resume
}
if [ "${PARALLEL:-0}" = 1 ]; then
  mkdir -p "$runs"
  for variant in full no_au srgan; do igcn "$variant" "$@" > "$runs/igcn-$variant.log" 2>&1 & done
  wait
else
  for variant in full no_au srgan; do igcn "$variant" "$@"; done
fi
if [ "${PUBLISH:-1}" = 1 ]; then
  python train/publish.py "$runs/igcn-full/model" igcn
  python train/publish.py "$runs/igcn-srgan/model" igcn-srgan
fi
python benchmarks/igcn_tables.py --runs "$runs" --length 1000 --val-length 200 --update
