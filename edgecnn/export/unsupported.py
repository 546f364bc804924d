"""Refusals: a layer or op a format cannot express, said in one line (layer, format, what works).

The exporters call these when a converter fails or leaves an op the target cannot run; each
gives an ``UnsupportedOpError`` (``export_models`` still writes the other formats of the run)
or None when the failure is something else (then the original error stands).
"""

from __future__ import annotations

import re


def _error(text: str):
    from edgecnn.export import UnsupportedOpError

    return UnsupportedOpError(text)


def layer_of(model, name: str) -> str | None:
    """The Keras layer a TF/ONNX/TFLite tensor or node name belongs to ('functional_1/weird_1/Lgamma' -> 'weird')."""
    layers = {layer.name for layer in getattr(model, "layers", [])} if model is not None else set()
    for part in re.split(r"[/;:]", name):
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in layers:
                return candidate
    return None


def _layer_list(model, op_types: list[str]) -> list[tuple[str, str | None]]:
    """(op type, Keras layer) for each op type, found in the traced forward graph."""
    found: list[tuple[str, str | None]] = []
    try:
        from edgecnn.export.common import forward_function

        graph = forward_function(model).get_concrete_function().graph
        ops = [(op.type, op.name) for op in graph.get_operations()]
        for func in graph._functions.values():  # private: the nested functions of the trace
            ops += [(op.type, op.name) for op in func.graph.get_operations()] if hasattr(func, "graph") else []
    except Exception:  # noqa: BLE001 - the trace itself failing: name the ops without layers
        ops = []
    for op_type in op_types:
        layer = next((layer_of(model, name) for t, name in ops if t == op_type and layer_of(model, name)), None)
        found.append((op_type, layer))
    return found


def _describe(pairs: list[tuple[str, str | None]]) -> str:
    return ", ".join(f"layer {layer!r} (op {op})" if layer else f"op {op}" for op, layer in pairs)


def tflite_refusal(model, exc: BaseException, precision: str):
    """The TFLite converter failed: an UnsupportedOpError when the cause is ops outside TFLite's builtins."""
    text = str(exc)
    ops: list[str] = []
    for match in re.finditer(r"TF Select ops: ([\w, ]+)", text):
        ops += [op.strip() for op in match.group(1).split(",") if op.strip()]
    ops += re.findall(r"\btf\.(\w+)\(", text)
    ops += re.findall(r'fused\["(\w+):', text)
    ops += re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)
    ops = [op for op in dict.fromkeys(ops) if op not in ("PartitionedCall", "StatefulPartitionedCall")]
    if not ops:
        return None
    return _error(f"{_describe(_layer_list(model, ops))} is not a TFLite builtin op")


def onnx_refusal(model, exc: BaseException, opset: int):
    """tf2onnx failed: an UnsupportedOpError when it names TF ops it cannot convert."""
    text = str(exc)
    ops = re.findall(r"(?:Unsupported ops|unsupported op)[^:]*:\s*Counter\(\{([^}]*)\}", text)
    names = re.findall(r"'(\w+)'", ops[0]) if ops else []
    if not names:
        return None
    return _error(f"{_describe(_layer_list(model, names))} has no ONNX opset {opset} conversion")


def check_onnx_ops(model, proto, opset: int) -> None:
    """Every node of the converted graph must be an operator of ONNX opset ``opset`` (tf2onnx
    leaves an op it cannot map as a node of TF's name, e.g. ``Lgamma``)."""
    import onnx.defs

    bad = []
    for node in proto.graph.node:
        domain = node.domain or ""
        if domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type, max_inclusive_version=opset, domain=""):
            bad.append((node.op_type, layer_of(model, node.name)))
    if bad:
        raise _error(f"{_describe(list(dict.fromkeys(bad)))} is not an ONNX opset {opset} operator")


def layer_of_tflite_op(data: bytes, op_name: str, model=None) -> str | None:
    """The Keras layer of the first ``op_name`` operator in a TFLite flatbuffer (from its output tensor name)."""
    try:
        from ai_edge_litert import schema_py_generated as schema

        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        flat = schema.Model.GetRootAs(data, 0)
        graph = flat.Subgraphs(0)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = flat.OperatorCodes(op.OpcodeIndex())
            if names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode())) != op_name:
                continue
            tensor = graph.Tensors(int(op.Outputs(0))).Name().decode(errors="replace")
            return layer_of(model, tensor) or tensor.split(";")[0]
    except Exception:  # noqa: BLE001 - a best-effort name for the message
        return None
    return None
