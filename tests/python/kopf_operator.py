"""A kopf operator for the `gadgets.example.io` export, unmodified kopf.

Run by tests/e2e/third_party.rs as
`kopf run --standalone --all-namespaces kopf_operator.py` with KUBECONFIG
pointing at the provider endpoint of one consumer workspace
(`/services/apiexport/<provider>/<export>/clusters/<consumer>`). kopf knows
nothing of workspaces: to it that URL is a cluster serving gadgets.

It writes what it did into each gadget's status, which is what the test
reads from the consumer's side:
* create: `status.phase = Ready`, `status.observedSize = spec.size`, and
  an Event `Provisioned`;
* a change of `spec.size`: `status.observedSize` follows it;
* delete: kopf's finalizer holds the object until the handler ran, then
  kopf removes the finalizer and the object goes.
"""

import kopf


@kopf.on.create("example.io", "v1", "gadgets")
def created(body, spec, patch, **_):
    patch.status["phase"] = "Ready"
    patch.status["observedSize"] = spec.get("size")
    # An Event beside the object (the export claims `events`).
    kopf.info(body, reason="Provisioned", message=f"size {spec.get('size')}")


@kopf.on.field("example.io", "v1", "gadgets", field="spec.size")
def resized(new, patch, **_):
    patch.status["observedSize"] = new


@kopf.on.delete("example.io", "v1", "gadgets")
def deleted(name, logger, **_):
    # kopf only removes its finalizer after this handler succeeded; the test
    # sees the object disappear.
    print(f"operator: deleted {name}", flush=True)
