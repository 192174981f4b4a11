"""Train any faceforge model with one loop.

    accelerate launch train/train.py --task NAME [--config FILE] [--resume [CHECKPOINT]] [key=value ...]

    python train/train.py --task toy                                   # one process
    accelerate launch --multi_gpu --num_processes 4 train/train.py --task toy
    torchrun --standalone --nproc_per_node 2 train/train.py --task toy  # 2 processes (gloo without a GPU)
    python train/train.py --task toy --resume                          # continue runs/toy

Without a GPU, several processes communicate over gloo; start them with ``torchrun`` or ``accelerate launch
--multi_gpu --num_processes N`` (``accelerate launch --cpu`` with several processes expects MPI).

``--config`` defaults to ``train/configs/NAME.yaml`` when that file exists. ``key=value`` overrides any
run key (``steps=2000 mixed_precision=bf16 output_dir=runs/try``) or task option (``options.lr_g=1e-4``);
``--print-config`` shows the resolved config and exits. Keys, defaults and outputs are documented in
``faceforge/training/config.py`` and ``faceforge/training/loop.py``; ``python -c "import faceforge;
print(faceforge.list_tasks())"`` lists the tasks (each declared by its model family, ``faceforge/models/``).

SIGINT (Ctrl-C) or SIGTERM finishes the current iteration, writes a checkpoint and exits with 128 + the
signal number; ``--resume`` continues exactly where the run stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

CONFIGS = Path(__file__).resolve().parent / "configs"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--task", help="task name (faceforge.list_tasks())")
    parser.add_argument("--config", type=Path,
                        help="YAML run config (default: train/configs/TASK.yaml when it exists)")
    parser.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CHECKPOINT",
                        help="continue from CHECKPOINT, or from the newest checkpoint of output_dir")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="run keys, or options.NAME for the task's keys")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from faceforge.training import ConfigError, TrainingInterrupted, train
    from faceforge.training.tasks import load_run

    config_path = args.config
    if config_path is None and args.task and (CONFIGS / f"{args.task}.yaml").is_file():
        config_path = CONFIGS / f"{args.task}.yaml"
    overrides = list(args.overrides)
    if args.resume and "=" in args.resume and not Path(args.resume).exists():  # "--resume steps=900"
        overrides.insert(0, args.resume)
        args.resume = "latest"
    if args.resume is not None:
        overrides.append(f"resume={args.resume}")
    try:
        run = load_run(config_path, overrides, task=args.task)  # the task first, then its typed options
        if args.print_config:
            print(yaml.safe_dump(run.to_dict(), sort_keys=False), end="")
            return 0
        result = train(run)
    except ConfigError as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    except TrainingInterrupted as stop:
        print(f"train.py: {stop}", file=sys.stderr)
        return 128 + stop.signum
    if result.model_dir is not None and result.task.is_main_process:
        print(f"done: {result.step} iterations; model in {result.model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
