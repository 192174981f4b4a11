#!/usr/bin/env bash
# Table 4 of MPENet at a matched, shorter schedule: all four variants (baseline, +landmarks, +AUs, +AU attention
# maps) trained for the same STEPS iterations from the same seed into runs/ablation-STEPS/mpenet-VARIANT, then
# measured by benchmarks/mpenet_tables.py (which takes Table 4 and the "Recurrent baseline" row from there).
#   bash train/ablation_mpenet.sh 300                  # a quick look (2-core CPU: 10-20 minutes per variant)
#   bash train/ablation_mpenet.sh 1200 --update        # the shipped MPENet's schedule (train/configs/mpenet_cpu.yaml)
#   THREADS=1 bash train/ablation_mpenet.sh 300
#   PRECISION=no bash train/ablation_mpenet.sh 300     # fp32; the default is the config's bf16 autocast, as the
#                                                      # shipped MPENet (slower than fp32 on CPUs without bf16 units)
# Arguments after STEPS go to benchmarks/mpenet_tables.py. Every run resumes where it stopped. The runs' own cards
# report 200 test faces only (they are not shipped); the tables measure every model on the same faces.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:?usage: bash train/ablation_mpenet.sh STEPS [mpenet_tables.py arguments]}
shift
runs="runs/ablation-$steps"
for variant in baseline landmarks landmarks_aus full; do
  accelerate launch --num_processes 1 --num_cpu_threads_per_process "${THREADS:-$(nproc)}" train/train.py \
    --task mpenet --config train/configs/mpenet_cpu.yaml output_dir="$runs/mpenet-$variant" \
    options.variant="$variant" steps="$steps" ${PRECISION:+mixed_precision="$PRECISION"} options.test_length=200 --resume
done
python benchmarks/mpenet_tables.py --runs "$runs" "$@"
