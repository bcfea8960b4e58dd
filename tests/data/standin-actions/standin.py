"""The artifact stand-ins' one script: upload copies into $STANDIN_ARTIFACTS, download out."""

import fnmatch
import glob
import os
import shutil
import sys
from pathlib import Path

store = Path(os.environ["STANDIN_ARTIFACTS"])


def upload() -> None:
    patterns = [p.strip() for p in os.environ["PATHS"].splitlines() if p.strip()]
    files = [Path(f) for p in patterns for f in glob.glob(p, recursive=True) if Path(f).is_file()]
    if not files:
        if os.environ.get("IF_NONE") == "error":
            sys.exit(f"::error::no files found for {patterns}")
        print(f"::warning::no files found for {patterns}; no artifact uploaded")
        return
    root = Path(os.path.commonpath([f.resolve().parent for f in files]))
    dest = store / os.environ["NAME"]
    for f in files:
        target = dest / f.resolve().relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)
    print(f"uploaded {len(files)} file(s) as {os.environ['NAME']}")


def download() -> None:
    name, pattern = os.environ.get("NAME", ""), os.environ.get("PATTERN", "")
    dest = Path(os.environ.get("DEST") or ".")
    stored = sorted(p.name for p in store.iterdir()) if store.is_dir() else []
    if name:
        chosen, nested = [name], False
    else:
        chosen = [n for n in stored if fnmatch.fnmatch(n, pattern or "*")]
        nested = os.environ.get("MERGE") != "true"
    for n in chosen:
        if not (store / n).is_dir():
            sys.exit(f"::error::Unable to download artifact(s): Artifact not found for name: {n}")
        shutil.copytree(store / n, dest / n if nested else dest, dirs_exist_ok=True)
    print(f"downloaded {len(chosen)} artifact(s): {', '.join(chosen)}")


{"upload": upload, "download": download}[sys.argv[1]]()
