"""This machine's limits: GEMM throughput per precision and thread count, and memory bandwidth.

Why this ceiling: the exported models' MACs are convolutions and fully-connected layers that
LiteRT hands to XNNPACK, whose GEMM micro-kernels (AVX2/AVX-512/VNNI on x86, NEON/dot-product
on Arm) are the fastest matrix kernels either runtime here has. One large fully-connected layer
(batch 256 x 1024 inputs x 1024 outputs, 268 M MACs a call, weights and activations in cache)
run by the *same* runtime is compute-bound: its MAC rate is what these kernels can reach on
this core, with the same instruction set, clock and thread pool the models get. A CNN can
come close to it only where its layers are GEMM-shaped and large; the share of it a model
reaches says how much speed is left on the table. int8 has its own ceiling (int8 x int8 ->
int32 dot products are 2-4x the fp32 rate on CPUs with VNNI or dot-product instructions).
ONNX Runtime rows are held to the same ceiling: it is the machine's, not the runtime's.

Memory bandwidth is a single-thread copy of a 64 MiB array (bytes read + bytes written per
second): the bound for work whose data does not stay in cache.

The figures are cached per machine (CPU model, core count, LiteRT version) with the date they
were measured, in ``ceiling.json`` of edgecnn's cache folder (``edgecnn.env.cache_dir``: ``$EDGECNN_CACHE_DIR``, default ``~/.cache/edgecnn``);
``edgecnn bench --remeasure-ceiling`` measures again.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CACHE_NAME = "ceiling.json"
GEMM_SHAPE = (256, 1024, 1024)  # M (batch) x K (inputs) x N (outputs) of the synthetic layer
COPY_BYTES = 64 * 2**20
GEMM_SECONDS = 0.6  # timed seconds per precision and thread count
PRECISIONS = ("float32", "int8")
# Which ceiling a model's precision is held to: float16 files compute in float32 after load;
# dynamic-range files run their matrix products as int8.
CEILING_OF = {"float32": "float32", "float16": "float32", "int8": "int8", "dynamic": "int8"}


def cache_path() -> Path:
    from edgecnn.env import cache_dir

    return cache_dir(CACHE_NAME)


def machine_key() -> str:
    """What the ceiling depends on: the CPU, how many cores, and the kernels' version."""
    from edgecnn.env import cpu_model, library_versions

    litert = library_versions().get("ai-edge-litert", "?")
    return f"{cpu_model()} | {os.cpu_count()} cores | ai-edge-litert {litert}"


# -- the synthetic layer -------------------------------------------------------------------------
def fc_model(m: int, k: int, n: int, precision: str, seed: int = 0) -> bytes:
    """A TFLite flatbuffer with one FULLY_CONNECTED op: [m, k] x [n, k]^T + bias -> [m, n].

    int8: int8 input and output (zero point 0), symmetric int8 weights, int32 bias: exactly what
    XNNPACK's QS8 GEMM runs. Built with LiteRT's schema, no TensorFlow.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(seed)
    int8 = precision == "int8"
    if int8:
        weights = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
        bias = rng.integers(-1000, 1000, size=(n,), dtype=np.int32)
        w_type, b_type, a_type = schema.TensorType.INT8, schema.TensorType.INT32, schema.TensorType.INT8
    elif precision == "float32":
        weights = rng.standard_normal((n, k)).astype(np.float32) / np.sqrt(k)
        bias = np.zeros(n, np.float32)
        w_type = b_type = a_type = schema.TensorType.FLOAT32
    else:
        raise ValueError(f"no ceiling for precision {precision!r}")

    def quant(scale: float):
        if not int8:
            return None
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [scale], [0]
        return q

    def buffer(data: np.ndarray | None):
        b = schema.BufferT()
        if data is not None:
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        return b

    def tensor(name: str, shape, ttype, buf: int, scale: float):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer, t.quantization = name.encode(), list(shape), ttype, buf, quant(scale)
        return t

    in_scale, w_scale, out_scale = 0.02, 0.01, 0.5
    model = schema.ModelT()
    model.version = 3
    model.buffers = [buffer(None), buffer(None), buffer(weights), buffer(bias), buffer(None)]
    sub = schema.SubGraphT()
    sub.tensors = [
        tensor("x", (m, k), a_type, 1, in_scale),
        tensor("w", (n, k), w_type, 2, w_scale),
        tensor("b", (n,), b_type, 3, in_scale * w_scale),
        tensor("y", (m, n), a_type, 4, out_scale),
    ]
    sub.inputs, sub.outputs = [0], [3]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = schema.FullyConnectedOptionsT()
    sub.operators = [op]
    model.subgraphs = [sub]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.FULLY_CONNECTED
    code.version = 4 if int8 else 1
    model.operatorCodes = [code]
    builder = flatbuffers.Builder(weights.nbytes + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def gemm_gmacs(precision: str, threads: int = 1, seconds: float | None = None,
               shape: tuple[int, int, int] = GEMM_SHAPE, xnnpack: bool = True) -> dict[str, Any]:
    """GMAC/s of the synthetic fully-connected layer in LiteRT (XNNPACK), from timed calls."""
    seconds = GEMM_SECONDS if seconds is None else seconds
    from edgecnn.bench.graph import tflite_delegation
    from edgecnn.runtime.tflite import _interpreter_class

    m, k, n = shape
    interpreter_cls, resolver = _interpreter_class()
    kwargs: dict[str, Any] = {"model_content": fc_model(m, k, n, precision), "num_threads": threads}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = interpreter_cls(**kwargs)
    interpreter.allocate_tensors()
    delegated = tflite_delegation(interpreter)["delegated_nodes"] == 1 if xnnpack else False
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(1)
    x = (rng.integers(-128, 128, size=(m, k), dtype=np.int8) if precision == "int8"
         else rng.standard_normal((m, k)).astype(np.float32))
    interpreter.set_tensor(detail["index"], x)
    clock = time.perf_counter_ns
    times: list[int] = []
    deadline = clock() + int(seconds * 1e9)
    for _ in range(3):  # warm-up: pack weights, fault in pages, spin up the pool
        interpreter.invoke()
    while clock() < deadline or len(times) < 5:
        t0 = clock()
        interpreter.invoke()
        times.append(clock() - t0)
    best = float(np.percentile(times, 10)) / 1e9  # the core's limit: the fast tail, not the noise of a shared machine
    p50 = float(np.median(times)) / 1e9
    macs = m * k * n
    return {"gmacs": macs / best / 1e9, "gmacs_p50": macs / p50 / 1e9, "shape": [m, k, n], "threads": threads,
            "calls": len(times), "xnnpack": delegated}


def memory_gbps(size: int | None = None, repeats: int = 7) -> float:
    """Single-thread copy bandwidth in GB/s (bytes read + written), best of ``repeats`` copies."""
    size = COPY_BYTES if size is None else size
    src = np.ones(size // 8, np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault in every page first
    best = min(_timed_copy(dst, src) for _ in range(repeats))
    return 2 * src.nbytes / best / 1e9


def _timed_copy(dst: np.ndarray, src: np.ndarray) -> float:
    t0 = time.perf_counter()
    np.copyto(dst, src)
    return time.perf_counter() - t0


# -- measure once per machine, then reuse ----------------------------------------------------------
@dataclass
class Ceiling:
    """GEMM GMAC/s per precision and thread count, memory bandwidth, and when they were measured."""

    machine: str
    gemm: dict[str, dict[str, dict[str, Any]]]  # precision -> str(threads) -> gemm_gmacs(...)
    memory_gbps: float
    measured: dict[str, str]  # "gemm/<precision>/<threads>" and "memory" -> ISO date
    cached: bool = False  # True when every figure came from the cache

    def gmacs(self, precision: str, threads: int) -> float | None:
        entry = self.gemm.get(CEILING_OF.get(precision, "float32"), {}).get(str(threads))
        return None if entry is None else float(entry["gmacs"])

    def to_json(self) -> dict[str, Any]:
        return {"machine": self.machine, "gemm": self.gemm, "memory_gbps": self.memory_gbps,
                "measured": self.measured, "cached": self.cached, "method": METHOD}


METHOD = {
    "gemm": f"LiteRT + XNNPACK, one FULLY_CONNECTED layer, M x K x N = {' x '.join(map(str, GEMM_SHAPE))}, "
            "int8 (QS8) and float32; GMAC/s at the 10th percentile of call times (gmacs_p50 at the median)",
    "memory": f"numpy copy of {COPY_BYTES // 2**20} MiB, one thread, (read + written bytes) / best time",
}


def _today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _write_cache(path: Path, obj: dict[str, Any]) -> None:
    from edgecnn import fileio

    try:
        fileio.write_json(fileio.ensure_dir(path.parent) / path.name, obj)
    except OSError as exc:  # a read-only home must not stop a benchmark
        log.warning("could not cache the ceiling in %s: %s", path, exc)


def machine_ceiling(threads: tuple[int, ...] = (1,), remeasure: bool = False, *,
                    say=None, measure_gemm=gemm_gmacs, measure_memory=memory_gbps) -> Ceiling:
    """The ceiling for these thread counts: from the cache when this machine has it, else measured (and cached)."""
    path, key = cache_path(), machine_key()
    cache = _read_cache(path)
    entry = cache.get(key) if isinstance(cache.get(key), dict) and not remeasure else None
    entry = entry or {"gemm": {}, "memory_gbps": None, "measured": {}}
    changed = False
    for precision in PRECISIONS:
        for t in threads:
            if str(t) in entry["gemm"].get(precision, {}):
                continue
            if say:
                say(f"ceiling: {precision} GEMM, {t} thread(s)")
            entry["gemm"].setdefault(precision, {})[str(t)] = measure_gemm(precision, t)
            entry["measured"][f"gemm/{precision}/{t}"] = _today()
            changed = True
    if entry.get("memory_gbps") is None:
        if say:
            say("ceiling: memory bandwidth")
        entry["memory_gbps"] = measure_memory()
        entry["measured"]["memory"] = _today()
        changed = True
    if changed:
        cache[key] = entry
        _write_cache(path, cache)
    return Ceiling(machine=key, gemm=entry["gemm"], memory_gbps=float(entry["memory_gbps"]),
                   measured=dict(entry["measured"]), cached=not changed)
