#!/usr/bin/env bash
# Train and publish MPENet and MPEGAN, then the other Table 4 variants and SRCNN / VDSR, and measure the paper tables.
#   bash train/ship_mpenet.sh                       # the shipped CPU-scale runs (train/configs/*_cpu.yaml)
#   CONFIG=paper bash train/ship_mpenet.sh          # the paper's schedule (train/configs/mpenet.yaml, mpegan.yaml)
#   bash train/ship_mpenet.sh steps=100             # extra key=value overrides for every run
#   THREADS=1 bash train/ship_mpenet.sh             # CPU threads per run (default: every core)
# Needs the shipped AU detector, AU evaluator and expression classifier (bash train/ship_priors.sh). Every run
# resumes where it stopped when the script is started again (checkpoints in runs/).
set -euo pipefail
cd "$(dirname "$0")/.."
suffix="_cpu"
[ "${CONFIG:-cpu}" = paper ] && suffix=""
launch=(accelerate launch --num_processes 1 --num_cpu_threads_per_process "${THREADS:-$(nproc)}" train/train.py)
mpenet() {  # variant, then overrides
  local variant=$1; shift
  "${launch[@]}" --task mpenet --config "train/configs/mpenet$suffix.yaml" output_dir="runs/mpenet-$variant" \
    options.variant="$variant" "$@" --resume
}
mpenet full "$@"
python train/publish.py runs/mpenet-full/model mpenet
"${launch[@]}" --task mpegan --config "train/configs/mpegan$suffix.yaml" options.init=runs/mpenet-full/model "$@" --resume
python train/publish.py runs/mpegan/model mpegan
for variant in baseline landmarks landmarks_aus; do
  mpenet "$variant" "$@"
done
synth=$(awk '/^synth_version:/ {print $2}' "train/configs/mpenet$suffix.yaml")  # MPENet's faces, for every row
for network in srcnn vdsr; do  # the paper's generic baselines of Tables 1-2, on the same faces and schedule
  "${launch[@]}" --task "$network" --config "train/configs/$network$suffix.yaml" output_dir="runs/$network" \
    synth_version="$synth" "$@" --resume
done
python benchmarks/mpenet_tables.py --runs runs
