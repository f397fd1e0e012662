#!/usr/bin/python3
"""check_onnx.py MODEL.onnx: Debian's python3-onnx reads what `nntrain export` wrote and runs
onnx.checker.check_model(full_check=True) (structure, types, shape inference). Prints one JSON
line: opset, input and output names, whether their batch dimension is symbolic, the
operators in order, the metadata and the initializers' names. Exits 1 when the checker
refuses the model, 2 when python3-onnx is missing."""
import json
import sys

try:
    import onnx
except ImportError as e:
    sys.stderr.write("check_onnx.py: %s (python3-onnx, scripts/install-deps.sh --test)\n" % e)
    sys.exit(2)


def dims(v):
    return [d.dim_param if d.dim_param else d.dim_value for d in v.type.tensor_type.shape.dim]


def main(path):
    m = onnx.load(path)
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:  # the checker's own exception types vary between versions
        sys.stderr.write("check_onnx.py: %s: %s\n" % (path, e))
        return 1
    opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    print(json.dumps({
        "opset": opset,
        "ir_version": m.ir_version,
        "inputs": {v.name: dims(v) for v in m.graph.input},
        "outputs": {v.name: dims(v) for v in m.graph.output},
        "ops": [n.op_type for n in m.graph.node],
        "metadata": {p.key: p.value for p in m.metadata_props},
        "initializers": [t.name for t in m.graph.initializer],
        "onnx": onnx.__version__,
    }))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
