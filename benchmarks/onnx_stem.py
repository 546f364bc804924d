"""The int8 ONNX rule's stem clause, measured: a 3-channel first convolution in int8 or in float32.

On the MobileNetV2 of tests/real_models.py (96x96x3, one thread), in one process: float32, the
int8 file with its stem int8 (the rule before the clause: only 1-channel convolutions float32),
the int8 file export ships (stem float32), and a second session of the stem-int8 file as a
control. Two sessions of one file differ by what the session, not the file, costs (memory
placement, the host's other tenants), so the control's distance from its twin is the noise
floor a difference between the other rows has to clear. Rounds interleaved (alternating order),
warm-up first; p50 at batch 1 and throughput at batch 256 against float32, agreement with
float32 on the 1,000 test photos. ``--processes N`` repeats the whole measurement in N fresh
processes (ORT's sessions land differently in each).

    python benchmarks/onnx_stem.py [--rounds 15] [--processes 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

import _common  # noqa: F401  (the repo on sys.path)
import onnx_choice


def measure_once(rounds: int, threads: int) -> None:
    from edgecnn.export.onnx_int8 import quantize_int8

    fp32, calibration, x_test = onnx_choice.mobilenet_inputs(17)
    files = {"float32": fp32.SerializeToString(),
             "int8, stem int8": quantize_int8(fp32, calibration, stem_channels=1)[0].SerializeToString(),
             "int8, stem float32 [export]": quantize_int8(fp32, calibration)[0].SerializeToString()}
    files["int8, stem int8 (2nd session)"] = files["int8, stem int8"]
    runs = {name: onnx_choice.ort_session(data, "all", threads) for name, data in files.items()}
    med = onnx_choice.measure(runs, {1: 40, 256: 2}, rounds, x_test)
    top = {name: np.concatenate([run(x_test[i: i + 250]) for i in range(0, len(x_test), 250)]).argmax(1)
           for name, run in runs.items()}
    print(f"{'file':<30} {'b1 p50 us':>10} {'/f32':>5} {'b256 img/s':>11} {'/f32':>5} {'agree':>7}")
    for name in runs:
        print(f"{name:<30} {med[(name, 1)] / 1e3:>10.1f} {med[(name, 1)] / med[('float32', 1)]:>5.2f} "
              f"{256e9 / med[(name, 256)]:>11,.0f} {med[('float32', 256)] / med[(name, 256)]:>5.2f} "
              f"{np.mean(top[name] == top['float32']):>7.2%}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)  # one process's measurement
    args = parser.parse_args()
    if args.once or args.processes == 1:
        measure_once(args.rounds, args.threads)
        return
    print(f"MobileNetV2 0.35 96x96x3, {args.threads} thread(s), {args.rounds} rounds, {args.processes} processes; "
          f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for i in range(args.processes):
        print(f"\nprocess {i + 1}")
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--once", "--rounds", str(args.rounds), "--threads",
                        str(args.threads)], check=True, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
