"""What actually runs: XNNPACK's share of a TFLite graph, and the graph ONNX Runtime runs after its optimizations."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


def tflite_delegation(interpreter) -> dict[str, Any]:
    """How many of the model's nodes the XNNPACK delegate took, in how many partitions.

    LiteRT keeps the original nodes in the node list and appends one DELEGATE node per
    partition; a partition covers the nodes between its input and output tensors.
    """
    ops = interpreter._get_ops_details()  # private but stable since TF 2.5; no public equivalent
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    producer = {int(t): op for op in original for t in op["outputs"]}
    covered: set[int] = set()
    for delegate in delegates:
        boundary = {int(t) for t in delegate["inputs"]}
        stack = [int(t) for t in delegate["outputs"]]
        while stack:
            tensor = stack.pop()
            op = producer.get(tensor)
            if tensor in boundary or op is None or op["index"] in covered:
                continue
            covered.add(op["index"])
            stack.extend(int(t) for t in op["inputs"] if t >= 0)
    left = Counter(op["op_name"] for op in original if op["index"] not in covered)
    return {
        "delegate": "XNNPACK",
        "nodes": len(original),
        "delegated_nodes": len(covered),
        "partitions": len(delegates),
        "not_delegated": dict(left),
        "partial": bool(delegates) and len(covered) < len(original),
    }


def onnx_graph_ops(path: Path, options) -> dict[str, Any]:
    """Node count by op type of the graph ONNX Runtime actually runs (after its optimizations)."""
    import tempfile

    import onnx
    import onnxruntime as ort

    from edgecnn.runtime.onnx import session_options

    before = Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)
    info: dict[str, Any] = {"optimization": options.ort_optimization, "nodes_in_file": sum(before.values())}
    with tempfile.TemporaryDirectory() as tmp:
        so = session_options(options)
        so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        try:
            ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
            after = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
        except Exception as exc:  # noqa: BLE001 - some levels refuse to save; the figures stand without it
            info["error"] = str(exc).splitlines()[0][:200]
            return info
    info.update(nodes=sum(after.values()), ops=dict(sorted(after.items())))
    return info
