"""List the ops of a SavedModel and find those outside core TensorFlow.

TF Serving binaries register only core ops: a graph using e.g. tensorflow-text kernels fails to
load there. Call `non_core_ops` in a process that never imported tensorflow_text (importing it
registers its ops, which would then look "core").
"""
import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry


def _read_saved_model(saved_model_dir):
    path = os.path.join(os.fspath(saved_model_dir), "saved_model.pb")
    if not os.path.isfile(path):
        raise ValueError(f"{saved_model_dir!r} is not a SavedModel directory (no saved_model.pb)")
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        proto.ParseFromString(f.read())
    return proto


def list_ops(saved_model_dir):
    """Every op type of the SavedModel: graph nodes and the nodes of all library functions.

    A node may call a library function directly by its name; those names are not ops (the
    function's own nodes are listed) and are left out.
    """
    ops, functions = set(), set()
    for meta_graph in _read_saved_model(saved_model_dir).meta_graphs:
        graph_def = meta_graph.graph_def
        ops.update(node.op for node in graph_def.node)
        for function in graph_def.library.function:
            functions.add(function.signature.name)
            ops.update(node.op for node in function.node_def)
    return ops - functions


def non_core_ops(ops):
    """The op type names in `ops` that core TensorFlow (this process) does not register."""
    return {op for op in ops if op_def_registry.get(op) is None}
