#!/usr/bin/env bash
# Train MPENet and MPEGAN, the other Table 4 variants and SRCNN / VDSR into one runs folder, publish MPENet and
# MPEGAN, and measure the paper tables.
#   bash train/ship_mpenet.sh                       # the shipped CPU-scale runs (train/configs/*_cpu.yaml) in runs/
#   CONFIG=paper bash train/ship_mpenet.sh          # the paper's schedule (train/configs/mpenet.yaml, mpegan.yaml)
#   bash train/ship_mpenet.sh steps=100             # extra key=value overrides for every run
#   RUNS=runs/mean PUBLISH=0 bash train/ship_mpenet.sh options.loss_norm=mean options.lambda_au=0.001
#                                                   # another loss scaling, kept apart and not published
#   SCALING=runs/mean/mpenet-full/model bash train/ship_mpenet.sh
#                                                   # the tables add that MPENet in a loss-scaling table
#   THREADS=1 bash train/ship_mpenet.sh             # CPU threads per run (default: every core)
# Needs the shipped AU detector, face-alignment network, AU evaluators and expression classifier
# (bash train/ship_priors.sh). Every run resumes where it stopped when the script is started again.
set -euo pipefail
cd "$(dirname "$0")/.."
suffix="_cpu"
[ "${CONFIG:-cpu}" = paper ] && suffix=""
runs=${RUNS:-runs}
launch=(accelerate launch --num_processes 1 --num_cpu_threads_per_process "${THREADS:-$(nproc)}" train/train.py)
mpenet() {  # variant, then overrides
  local variant=$1; shift
  "${launch[@]}" --task mpenet --config "train/configs/mpenet$suffix.yaml" output_dir="$runs/mpenet-$variant" \
    options.variant="$variant" "$@" --resume
}
mpenet full "$@"
"${launch[@]}" --task mpegan --config "train/configs/mpegan$suffix.yaml" output_dir="$runs/mpegan" \
  options.init="$runs/mpenet-full/model" "$@" --resume
if [ "${PUBLISH:-1}" = 1 ]; then
  python train/publish.py "$runs/mpenet-full/model" mpenet
  python train/publish.py "$runs/mpegan/model" mpegan
fi
for variant in baseline landmarks landmarks_aus; do
  mpenet "$variant" "$@"
done
synth=$(awk '/^synth_version:/ {print $2}' "train/configs/mpenet$suffix.yaml")  # MPENet's faces, for every row
for network in srcnn vdsr; do  # the paper's generic baselines of Tables 1-2, on the same faces and schedule
  "${launch[@]}" --task "$network" --config "train/configs/$network$suffix.yaml" output_dir="$runs/$network" \
    synth_version="$synth" "$@" --resume
done
python benchmarks/mpenet_tables.py --runs "$runs" \
  --model mpenet="$runs/mpenet-full/model" mpegan="$runs/mpegan/model" ${SCALING:+scaling="$SCALING"}
