#!/usr/bin/env bash
# Train the six prior networks on FaceForge-Synth and publish them into hub_cards/ (fp16, checked).
#   bash train/ship_priors.sh            # all six, one after another
#   bash train/ship_priors.sh au_detector expression_classifier
# Each run resumes where it stopped when started again (its checkpoints are in runs/<name>/).
set -euo pipefail
cd "$(dirname "$0")/.."
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(au_detector au_evaluator au_evaluator_robust expression_classifier expression_evaluator
                                face_alignment)
for name in "${names[@]}"; do
  task=au_detector
  case "$name" in expression_*) task=expression_classifier ;; face_alignment) task=face_alignment ;; esac
  accelerate launch --num_processes 1 --num_cpu_threads_per_process "${THREADS:-$(nproc)}" train/train.py --task "$task" --config "train/configs/$name.yaml" --resume
  python train/publish.py "runs/$name/model" "${name//_/-}"
done
