"""Peak memory and time of `edgecnn run --model` against the number of photos (issue #21, point 3).

A MobileNetV2 (alpha 1.0, 224x224x3, weights=None, 2 classes) goes through `edgecnn run --model
M --data PHOTOS` with 1,000, 2,000 and 5,000 synthetic JPEG photos (320x240, drawn by this script
into a cached folder: class sub-folders, the loader's seeded 80/20 split). Goals: peak RSS within
1.2x of the 1,000-image figure at every size and under 4 GiB; time no worse than linear.

Peak RSS is sampled every 0.2 s over the whole process tree (the CLI, its bench process, the
isolated children) and summed: what the machine must hold at once; each sample is charged to the
run stage whose line was printed last (a stage's first samples may still hold the previous
stage's child as it exits), and the line printed just before the peak is shown. The kernel's
ru_maxrss (the largest single process) is printed beside it. The load average is recorded with
every figure.

    pip install -e ".[bench]"   # psutil
    python benchmarks/memory_scaling.py [--sizes 1000,2000,5000] [--code DIR] [--quick]

--code DIR runs another checkout's edgecnn (e.g. a worktree at main) on the same photos and model.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("dots", "stripes")
PHOTO_SIZE = (320, 240)  # width, height: the loader fits them to 224x224 (aspect kept, padded)
STAGE = re.compile(r"^\[\d+\] (\w+)")  # run's stage lines: "[3] export: ..."


def cache() -> Path:
    sys.path.insert(0, str(ROOT))
    from edgecnn.env import cache_dir

    return cache_dir() / "memory-scaling"


def photos(n: int) -> Path:
    """``n`` seeded JPEGs in class folders, made once; smaller sets link the first files of the largest."""
    import numpy as np
    from PIL import Image

    pool = cache() / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:PHOTO_SIZE[1], :PHOTO_SIZE[0]]
    for i in range(n):
        path = pool / CLASSES[i % 2] / f"{i:05d}.jpg"
        if path.is_file():
            continue
        path.parent.mkdir(exist_ok=True)
        rng = np.random.default_rng([0, i])  # photo i is the same whichever run draws it
        base = rng.integers(0, 256, 3)
        freq = rng.uniform(0.05, 0.3)
        pattern = np.sin(xx * freq) > 0 if i % 2 else (np.sin(xx * freq) * np.sin(yy * freq)) > 0.3
        img = np.where(pattern[..., None], base, 255 - base) + rng.integers(-30, 31, (*pattern.shape, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
    folder = cache() / f"photos-{n}"
    if not folder.is_dir():
        tmp = Path(tempfile.mkdtemp(dir=cache()))
        for i in range(n):
            link = tmp / CLASSES[i % 2] / f"{i:05d}.jpg"
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(pool / CLASSES[i % 2] / f"{i:05d}.jpg")
        tmp.rename(folder)
    return folder


def model() -> Path:
    path = cache() / "mobilenet_v2_224.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        code = ("import keras, sys; keras.utils.set_random_seed(0); keras.applications.MobileNetV2("
                "input_shape=(224, 224, 3), alpha=1.0, weights=None, classes=2).save(sys.argv[1])")
        subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    return path


def tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_once(code: Path, data: Path, quick: bool, limit: float) -> dict:
    import psutil

    out = Path(tempfile.mkdtemp(prefix="edgecnn-memscale-"))
    cmd = [sys.executable, "-m", "edgecnn", "run", "--model", str(model()), "--data", str(data),
           "--output-dir", str(out), *(["--quick"] if quick else [])]
    env = {**os.environ, "PYTHONPATH": str(code)}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    log = open(out / "run.log", "w")
    child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=code)
    proc = psutil.Process(child.pid)
    peak, usage, status = 0, None, 0
    stopped = False
    reader = open(out / "run.log")
    stage, lines, at_peak, stages = "start", [], "", {}
    while usage is None:
        for line in reader.readlines():  # the run's lines so far: which stage (and step) each sample falls in
            found = STAGE.match(line)
            stage = found.group(1) if found else stage
            lines += [line.strip()] if line.strip() else []
        rss = tree_rss(proc)
        stages[stage] = max(stages.get(stage, 0), rss)
        if rss > peak:
            peak, at_peak = rss, f"{stage}: {lines[-1][:90] if lines else ''}"
        if peak > limit and not stopped:  # a shared machine: stop the run rather than let it take everything
            stopped = True
            for p in [*proc.children(recursive=True), proc]:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
        pid, status, ru = os.wait4(child.pid, os.WNOHANG)
        if pid:
            usage = ru
        else:
            time.sleep(0.2)
    wall = time.perf_counter() - started
    log.close()
    lines += [line.strip() for line in reader.readlines() if line.strip()]
    reader.close()
    child.returncode = os.waitstatus_to_exitcode(status)
    largest = usage.ru_maxrss * 1024  # the largest single process of the tree (kernel's figure)
    tail = lines[-3:]
    if stopped:
        tail = [f"stopped by this script at {limit / 2**30:.0f} GiB of the tree's RSS (--limit-gib)", *tail]
    return {"images": None, "exit": child.returncode, "seconds": wall, "peak_tree": peak, "largest": largest,
            "load": (load_before, os.getloadavg()[0]), "out": out, "tail": tail,
            "stages": stages, "at_peak": at_peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000,5000")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose edgecnn runs")
    parser.add_argument("--quick", action="store_true", help="run --quick (a short benchmark)")
    parser.add_argument("--limit-gib", type=float, default=8.0, help="stop a run whose process tree passes this")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    model()
    folders = {n: photos(n) for n in sorted(sizes, reverse=True)}
    print(f"edgecnn run --model MobileNetV2(1.0, 224x224x3) --data PHOTOS{' --quick' if args.quick else ''}; "
          f"code: {args.code}")
    print(f"{'photos':>7s} {'exit':>4s} {'seconds':>8s} {'s/photo':>8s} {'peak RSS (tree)':>16s} "
          f"{'x 1,000':>7s} {'largest process':>16s} {'load avg':>10s}")
    base = None
    for n in sizes:
        r = run_once(args.code, folders[n], args.quick, args.limit_gib * 2**30)
        base = base or (r["peak_tree"], r["seconds"], n)
        print(f"{n:7,d} {r['exit']:4d} {r['seconds']:8.1f} {r['seconds'] / n:8.3f} "
              f"{r['peak_tree'] / 2**30:12.2f} GiB {r['peak_tree'] / base[0]:7.2f} {r['largest'] / 2**30:12.2f} GiB "
              f"{r['load'][0]:4.1f}-{r['load'][1]:4.1f}", flush=True)
        print("        peak per stage: " + ", ".join(f"{k} {v / 2**30:.2f}" for k, v in r["stages"].items())
              + f" GiB; peak at '{r['at_peak']}'")
        if r["exit"] != 0:
            print("        " + " | ".join(r["tail"]))
    print("goal: peak RSS <= 1.2x the 1,000-photo figure and < 4 GiB; seconds per photo not growing")


if __name__ == "__main__":
    main()
