"""What a run needs: the nodes behind the outputs, in order, with Merkle cache keys."""

from __future__ import annotations

import hashlib
import inspect
import math
import uuid
from dataclasses import dataclass
from typing import Any

from nodegraph.graph import Link, Prompt
from nodegraph.spec import NodeSpec


@dataclass
class Plan:
    """Nodes the outputs depend on (lazy inputs included), sources before consumers."""

    outputs: list[str]
    order: list[str]
    keys: dict[str, bytes]
    specs: dict[str, NodeSpec]
    consumers: dict[str, list[str]]


def make_plan(
    specs: dict[str, NodeSpec],
    prompt: Prompt,
    outputs: list[str],
    order: list[str] | None = None,
    settings: Any = None,
) -> Plan:
    """Walk back from `outputs` and key every node by its content and its ancestors' keys:
    key(n) = H(class, version, fingerprint, id if not idempotent, literals,
               [(input, key(src), slot)]).
    """
    if order is None:
        order = _postorder(prompt, outputs)
    keys: dict[str, bytes] = {}
    consumers: dict[str, list[str]] = {nid: [] for nid in order}
    for nid in order:
        node = prompt[nid]
        spec = specs[nid]
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{spec.id}\0{spec.version}\0{node.literal_sig}\0".encode())
        if spec.keyed_by_id:
            h.update(f"id:{nid}\0".encode())
        if spec.fingerprint is not None:
            node.fingerprint = _fingerprint(spec, node.inputs, settings)
            h.update(f"fp:{node.fingerprint}\0".encode())
        for name in sorted(node.inputs):
            value = node.inputs[name]
            if isinstance(value, Link) and value.node_id in keys:
                h.update(f"{name}:{value.slot}:".encode())
                h.update(keys[value.node_id])
                consumers[value.node_id].append(nid)
        keys[nid] = h.digest()
    return Plan(outputs, order, keys, {nid: specs[nid] for nid in order}, consumers)


def _postorder(prompt: Prompt, roots: list[str]) -> list[str]:
    seen: set[str] = set()
    order: list[str] = []
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(_sources(prompt, root)))]
        while stack:
            nid, it = stack[-1]
            for src in it:
                if src not in seen:
                    seen.add(src)
                    stack.append((src, iter(_sources(prompt, src))))
                    break
            else:
                stack.pop()
                order.append(nid)
    return order


def _sources(prompt: Prompt, nid: str) -> list[str]:
    return [v.node_id for v in prompt[nid].inputs.values() if isinstance(v, Link)]


def _fingerprint(spec: NodeSpec, inputs: dict[str, Any], settings: Any) -> str:
    """IS_CHANGED: called with constants only (links as None); NaN or an exception means
    'always re-run', so the key gets a fresh nonce."""
    assert spec.fingerprint is not None
    kwargs = {
        name: None if isinstance(inputs.get(name), Link) else inputs.get(name)
        for name, inp in spec.inputs.items()
        if inp.section != "hidden" and name in inputs
    }
    if "settings" in inspect.signature(spec.fingerprint).parameters:
        kwargs["settings"] = settings
    try:
        value = spec.fingerprint(**kwargs)
    except Exception:
        return f"nan:{uuid.uuid4().hex}"
    if isinstance(value, float) and math.isnan(value):
        return f"nan:{uuid.uuid4().hex}"
    return repr(value)
