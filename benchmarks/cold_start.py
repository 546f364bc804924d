"""Cold start of `edgecnn predict` vs a bare ten-line LiteRT script (issue 6, point 4).

Each run is a fresh subprocess; wall time is measured around it and peak RSS comes from the
kernel (os.wait4's ru_maxrss). The two commands alternate run by run so that drift on a shared
machine hits both alike; medians are reported with the ratios against the goals
(<= 1.5x wall time, <= 1.3x peak RSS).

    python benchmarks/cold_start.py --model exports/mnist_cnn_int8.tflite [--image digit.png] [--runs 15]

Without --image, a digit is drawn from the MNIST test set into a temporary PNG.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# The baseline: what a bare app does with the same file (load, allocate, one invoke).
BARE = """\
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
interpreter = Interpreter(model_path=sys.argv[1])
interpreter.allocate_tensors()
inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
interpreter.invoke()
print(int(interpreter.get_tensor(out["index"]).argmax()))
"""


# A tiny launcher forks and execs the command, then reports its wall time and peak RSS. Why not
# Popen + os.wait4 from here: subprocess uses vfork, and Linux then charges this (bigger) process's
# peak RSS to the child's ru_maxrss, so both commands would report the benchmark's own memory.
LAUNCHER = """\
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), time.perf_counter() - started, usage.ru_maxrss)
"""


def run_once(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one fresh process."""
    proc = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=False)
    try:
        code, wall, rss_kib = proc.stdout.split()
    except ValueError:
        raise SystemExit(f"Error: launcher failed: {proc.stderr.strip()[-300:]}") from None
    if int(code) != 0:
        raise SystemExit(f"Error: {' '.join(cmd)} exited {code}: {proc.stderr.strip()[-300:]}")
    return float(wall), int(rss_kib) / 1024.0  # Linux reports KiB


def draw_digit(folder: Path) -> Path:
    from PIL import Image

    from edgecnn.data import load_mnist

    path = folder / "digit.png"
    Image.fromarray(255 - load_mnist().x_test[0]).resize((112, 112)).save(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("exports/mnist_cnn_int8.tflite"))
    parser.add_argument("--image", type=Path)
    parser.add_argument("--runs", type=int, default=15, help="runs per command (after one warm-up each)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"Error: {args.model}: not found; run `edgecnn export --format tflite --quantize`")
    # Byte-compile edgecnn first, as `pip install` does: numpy and LiteRT come with their .pyc
    # files, and an environment with PYTHONDONTWRITEBYTECODE (or an editable install that never
    # wrote any) would otherwise recompile edgecnn's sources, and only those, on every run.
    import compileall

    import edgecnn

    compileall.compile_dir(str(Path(edgecnn.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        image = args.image or draw_digit(Path(tmp))
        bare_script = Path(tmp) / "bare.py"
        bare_script.write_text(BARE)
        commands = {
            "edgecnn predict": [sys.executable, "-m", "edgecnn", "predict", "--model", str(args.model), str(image)],
            "bare LiteRT": [sys.executable, str(bare_script), str(args.model)],
        }
        for cmd in commands.values():  # warm the page cache so that the first run is not an outlier
            run_once(cmd)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(run_once(cmd))
    medians = {
        name: (statistics.median(w for w, _ in s), statistics.median(r for _, r in s)) for name, s in samples.items()
    }
    print(f"{'command':<16} {'wall s (median)':>16} {'peak RSS MiB':>13}   ({args.runs} runs each, interleaved)")
    for name, (wall, rss) in medians.items():
        print(f"{name:<16} {wall:>16.3f} {rss:>13.1f}")
    (pw, pr), (bw, br) = medians["edgecnn predict"], medians["bare LiteRT"]
    ratios = {"wall": pw / bw, "rss": pr / br}
    print(f"ratio wall {ratios['wall']:.2f}x (goal <= 1.5x), peak RSS {ratios['rss']:.2f}x (goal <= 1.3x)")
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "medians": medians, "ratios": ratios}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
