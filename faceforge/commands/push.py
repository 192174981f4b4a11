"""``faceforge push``: publish a model folder (weights, config, model card) to the Hugging Face Hub."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "push", help="publish a model folder to the Hugging Face Hub",
        description="Check that DIR loads strictly (config.json, model.safetensors) and has a faceforge "
                    "model card (README.md), then upload it to the Hub repo ORG/NAME, creating the repo if "
                    "needed. Honours HF_TOKEN and HF_ENDPOINT.")
    p.add_argument("folder", type=Path, metavar="DIR",
                   help="a folder written by save_pretrained, with its model card")
    p.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the Hub model repo")
    p.add_argument("--private", action="store_true", help="create the repo private (if it does not exist)")
    p.add_argument("--token", default=None, help="a Hub write token (default: HF_TOKEN or the stored login)")
    p.add_argument("--commit-message", default=None, help="the commit message on the Hub")
    p.add_argument("--dry-run", action="store_true", help="check the folder and list what would be uploaded")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceforge.hub import check_model_folder, push_model_folder

    model, files = check_model_folder(args.folder)
    print(f"{args.folder}: {type(model).__name__} ({model.config.model_type}), "
          f"{sum(p.numel() for p in model.parameters()):,} parameters; files: {', '.join(files)}")
    if args.dry_run:
        print(f"dry run: nothing uploaded to {args.repo_id}")
        return 0
    url = push_model_folder(args.folder, args.repo_id, private=args.private, token=args.token,
                            commit_message=args.commit_message)
    print(f"pushed {args.folder} to {args.repo_id}: {url}")
    return 0
