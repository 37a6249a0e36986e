"""What TF Serving does with a REST predict request in the columnar format, for the tests that
check ``laf.serve.rest``'s bodies against the real SavedModel: convert the JSON inputs to the
signature's dtypes, call it, answer ``{"outputs": {name: value}}``."""
from typing import Any, Dict, Mapping, Tuple

import numpy as np
import tensorflow as tf

from laf.serve import rest


def decode_request(body: Mapping[str, Any], input_dtypes: Mapping[str, Any]) -> Tuple[str, Dict[str, np.ndarray]]:
    """(signature name, numpy inputs), each input converted to its dtype in ``input_dtypes``
    (``object`` for string tensors)."""
    inputs = body.get("inputs")
    if not isinstance(inputs, dict) or "instances" in body:
        raise ValueError('expected a columnar request: {"signature_name": ..., "inputs": {name: value}}')
    if set(inputs) != set(input_dtypes):
        raise ValueError(f"the signature takes inputs {sorted(input_dtypes)}, the request gives {sorted(inputs)}")
    arrays = {}
    for name, value in inputs.items():
        dtype = np.dtype(input_dtypes[name])
        arrays[name] = np.array(rest.from_json(value, text=dtype == object), dtype=dtype)
    return body.get("signature_name", rest.DEFAULT_SIGNATURE), arrays


def call(model, signature: str, arrays: Mapping[str, Any]) -> Dict[str, np.ndarray]:
    """The signature called directly on numpy inputs."""
    outputs = model.signatures[signature](**{k: tf.constant(v) for k, v in arrays.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def serve(model, body: Mapping[str, Any]) -> Dict[str, Any]:
    """The server's answer to ``body``: several outputs as an object by name, a single one bare (as
    TF Serving answers it)."""
    signature = model.signatures[body.get("signature_name", rest.DEFAULT_SIGNATURE)]
    dtypes = {k: spec.dtype.as_numpy_dtype for k, spec in signature.structured_input_signature[1].items()}
    name, arrays = decode_request(body, dtypes)
    outputs = {k: rest.to_json(np.asarray(v)) for k, v in call(model, name, arrays).items()}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}
