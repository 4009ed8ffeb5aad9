"""bench_run owns what the long benchmark scripts (soak.py, longterm.py) do around a run: a
private copy of the binaries, a tagged progress log, and rewriting a report while keeping the
hand-written notes below its marker.

Server lifecycle, HTTP and /proc accounting live in bench_targets; this module is only the
scaffolding the two scripts had each written out for themselves."""
import os
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def snapshot_binaries(args, tag):
    """Copies the server and loadgen into a private dir, so a rebuild by someone else during a
    long run cannot swap or delete them; returns (dir, git commit of the checkout)."""
    d = tempfile.mkdtemp(prefix=f"{tag}-bin-")
    for attr in ("binary", "loadgen"):
        dst = os.path.join(d, os.path.basename(getattr(args, attr)))
        shutil.copy2(getattr(args, attr), dst)
        setattr(args, attr, dst)
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    return d, commit


def make_log(tag):
    """A log(msg) that prints "[tag HH:MM:SS] msg" and flushes at once."""
    def log(msg):
        print(f"[{tag} {time.strftime('%H:%M:%S')}] {msg}", flush=True)
    return log


def write_keeping_notes(path, doc, marker):
    """Writes doc to path; if the file there already holds marker, what follows it from the marker
    on (notes written by hand) is kept at the end."""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        if marker in old:
            doc += "\n" + old[old.index(marker):]
    with open(path, "w") as f:
        f.write(doc)
