"""The official `kubernetes` Python client against one Trellis workspace.

Run by tests/e2e/third_party.rs with KUBECONFIG pointing at a workspace
whose user may do everything in it, and a server keeping a short watch
history (--watch-history-events 30) so that 410s can be provoked. Prints
`ok: <what>` per check and exits 1 at the first mismatch.
"""

import json
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NS = "default"


def ok(cond, what, detail=""):
    if not cond:
        print(f"FAIL: {what}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def refused(fn):
    """(HTTP status, Status body) of a call that must fail."""
    try:
        fn()
    except ApiException as e:
        return e.status, json.loads(e.body) if e.body else {}
    print("FAIL: expected an ApiException", flush=True)
    sys.exit(1)


def cm(name, data=None, labels=None):
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels), data=data
    )


config.load_kube_config()
core = client.CoreV1Api()

# --- CRUD -----------------------------------------------------------------
created = core.create_namespaced_config_map(NS, cm("py-a", {"a": "1"}))
ok(created.metadata.uid and created.data == {"a": "1"}, "create", created)
got = core.read_namespaced_config_map("py-a", NS)
ok(got.metadata.resource_version == created.metadata.resource_version, "read")
got.data["a"] = "2"
updated = core.replace_namespaced_config_map("py-a", NS, got)
ok(updated.data == {"a": "2"}, "replace", updated.data)

# --- 409 ------------------------------------------------------------------
code, st = refused(lambda: core.create_namespaced_config_map(NS, cm("py-a")))
ok(code == 409 and st.get("reason") == "AlreadyExists", "409 AlreadyExists", st)
code, st = refused(lambda: core.replace_namespaced_config_map("py-a", NS, got))
ok(
    code == 409
    and st.get("reason") == "Conflict"
    and "the object has been modified" in st.get("message", ""),
    "409 Conflict on a stale resourceVersion",
    st,
)

# --- patch types ----------------------------------------------------------
p = core.patch_namespaced_config_map(
    "py-a",
    NS,
    [{"op": "add", "path": "/data/b", "value": "3"}],
    _content_type="application/json-patch+json",
)
ok(p.data == {"a": "2", "b": "3"}, "json patch", p.data)
p = core.patch_namespaced_config_map(
    "py-a",
    NS,
    {"data": {"a": None}},
    _content_type="application/merge-patch+json",
)
ok(p.data == {"b": "3"}, "merge patch", p.data)
code, st = refused(
    lambda: core.patch_namespaced_config_map(
        "py-a",
        NS,
        [{"op": "test", "path": "/data/b", "value": "nope"}],
        _content_type="application/json-patch+json",
    )
)
ok(code == 422 and st.get("reason") == "Invalid", "failed json patch test op: 422", st)

# Strategic merge: ServiceAccount.secrets merges by name; a merge patch
# replaces the list.
core.create_namespaced_service_account(
    NS,
    client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="py-sa"),
        secrets=[client.V1ObjectReference(name="s1")],
    ),
)
sa = core.patch_namespaced_service_account(
    "py-sa",
    NS,
    {"secrets": [{"name": "s2"}]},
    _content_type="application/strategic-merge-patch+json",
)
ok(
    sorted(s.name for s in sa.secrets) == ["s1", "s2"],
    "strategic merge patch merges by key",
    sa.secrets,
)
sa = core.patch_namespaced_service_account(
    "py-sa",
    NS,
    {"secrets": [{"name": "s3"}]},
    _content_type="application/merge-patch+json",
)
ok([s.name for s in sa.secrets] == ["s3"], "merge patch replaces lists", sa.secrets)

# Server-side apply: two managers, a conflict, then force.
applied = core.patch_namespaced_config_map(
    "py-applied",
    NS,
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "py-applied", "namespace": NS},
        "data": {"k": "one"},
    },
    field_manager="py-one",
    _content_type="application/apply-patch+yaml",
)
managers = [m.manager for m in applied.metadata.managed_fields]
ok(applied.data == {"k": "one"} and managers == ["py-one"], "apply creates", managers)
body = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "py-applied", "namespace": NS},
    "data": {"k": "two"},
}
code, st = refused(
    lambda: core.patch_namespaced_config_map(
        "py-applied",
        NS,
        body,
        field_manager="py-two",
        _content_type="application/apply-patch+yaml",
    )
)
ok(
    code == 409
    and st.get("reason") == "Conflict"
    and 'conflict with "py-one"' in st.get("message", ""),
    "apply conflict: 409",
    st,
)
forced = core.patch_namespaced_config_map(
    "py-applied",
    NS,
    body,
    field_manager="py-two",
    force=True,
    _content_type="application/apply-patch+yaml",
)
ok(forced.data == {"k": "two"}, "apply with force takes the field", forced.data)

# --- 422 ------------------------------------------------------------------
code, st = refused(lambda: core.create_namespaced_config_map(NS, cm("Bad_Name")))
causes = st.get("details", {}).get("causes", [])
ok(
    code == 422
    and st.get("reason") == "Invalid"
    and any(c.get("field") == "metadata.name" for c in causes),
    "422 Invalid with the field",
    st,
)

# --- list paging ----------------------------------------------------------
for i in range(7):
    core.create_namespaced_config_map(NS, cm(f"py-page-{i}", labels={"page": "yes"}))
names, pages, token = [], [], None
while True:
    page = core.list_namespaced_config_map(
        NS, label_selector="page=yes", limit=3, _continue=token
    )
    pages.append(len(page.items))
    names += [i.metadata.name for i in page.items]
    token = page.metadata.var_continue
    if not token:
        break
    if len(pages) == 1:
        # As kube: no count when a selector filters the list.
        ok(page.metadata.remaining_item_count is None, "no remainingItemCount with a selector")
ok(pages == [3, 3, 1], "pages of 3 with continue", pages)
ok(names == [f"py-page-{i}" for i in range(7)], "every item once, in order", names)

# --- watch and resume -----------------------------------------------------
start = core.list_namespaced_config_map(NS).metadata.resource_version
core.create_namespaced_config_map(NS, cm("py-w1"))
w = watch.Watch()
events = []
for e in w.stream(
    core.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=10
):
    events.append((e["type"], e["object"].metadata.name))
    last = e["object"].metadata.resource_version
    w.stop()
ok(events == [("ADDED", "py-w1")], "watch from a resourceVersion", events)
core.create_namespaced_config_map(NS, cm("py-w2"))
core.patch_namespaced_config_map(
    "py-w1", NS, {"data": {"x": "y"}}, _content_type="application/merge-patch+json"
)
core.delete_namespaced_config_map("py-w2", NS)
events = []
for e in w.stream(
    core.list_namespaced_config_map, NS, resource_version=last, timeout_seconds=10
):
    events.append((e["type"], e["object"].metadata.name))
    if len(events) == 3:
        w.stop()
ok(
    events == [("ADDED", "py-w2"), ("MODIFIED", "py-w1"), ("DELETED", "py-w2")],
    "watch resumes after the last event seen",
    events,
)

# --- delete ---------------------------------------------------------------
st = core.delete_namespaced_config_map("py-a", NS)
ok(st is not None, "delete")
code, st = refused(lambda: core.read_namespaced_config_map("py-a", NS))
ok(code == 404 and st.get("reason") == "NotFound", "404 after delete", st)

# --- 410 ------------------------------------------------------------------
# A continue token and a resourceVersion the history no longer holds.
first = core.list_namespaced_config_map(NS, label_selector="page=yes", limit=3)
for i in range(40):
    core.create_namespaced_config_map(NS, cm(f"py-fill-{i}"))
code, st = refused(
    lambda: core.list_namespaced_config_map(
        NS, label_selector="page=yes", limit=3, _continue=first.metadata.var_continue
    )
)
fresh = st.get("metadata", {}).get("continue")
ok(code == 410 and st.get("reason") == "Expired" and fresh, "410 on an expired continue", st)
rest = core.list_namespaced_config_map(NS, label_selector="page=yes", _continue=fresh)
ok(
    [i.metadata.name for i in rest.items] == [f"py-page-{i}" for i in range(3, 7)],
    "the 410's continue token lists the rest",
    rest.items,
)
# The watch ends with an in-stream 410; with timeoutSeconds set the client
# raises it instead of retrying.
try:
    for e in w.stream(
        core.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=10
    ):
        ok(False, "a watch from a compacted resourceVersion", e["type"])
    ok(False, "a watch from a compacted resourceVersion", "ended without an error")
except ApiException as e:
    ok(e.status == 410 and "Expired" in str(e.reason), "410 on a too old watch", e.reason)

print("done", flush=True)
