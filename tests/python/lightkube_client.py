"""lightkube (httpx-based, typed models) against one Trellis workspace.

Run by tests/e2e/third_party.rs like k8s_client.py: KUBECONFIG points at a
workspace, the server keeps a short watch history. Prints `ok: <what>` per
check and exits 1 at the first mismatch.
"""

import sys

from lightkube import ApiError, Client
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, ServiceAccount
from lightkube.types import PatchType

NS = "default"


def ok(cond, what, detail=""):
    if not cond:
        print(f"FAIL: {what}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def refused(fn):
    """The Status of a call that must fail."""
    try:
        fn()
    except ApiError as e:
        return e.status
    print("FAIL: expected an ApiError", flush=True)
    sys.exit(1)


def cm(name, data=None, labels=None):
    return ConfigMap(metadata=ObjectMeta(name=name, namespace=NS, labels=labels), data=data)


c = Client()
# Every request's query, to see that paging really sends `continue`.
queries = []
c._client._client.event_hooks["request"].append(lambda r: queries.append(str(r.url)))

# --- CRUD -----------------------------------------------------------------
made = c.create(cm("lk-a", {"a": "1"}))
ok(made.metadata.uid and made.data == {"a": "1"}, "create")
got = c.get(ConfigMap, "lk-a", namespace=NS)
got.data["a"] = "2"
ok(c.replace(got).data == {"a": "2"}, "replace")
st = refused(lambda: c.replace(got))
ok(st.code == 409 and st.reason == "Conflict", "409 on a stale resourceVersion", st)
st = refused(lambda: c.create(cm("lk-a")))
ok(st.code == 409 and st.reason == "AlreadyExists", "409 AlreadyExists", st)
st = refused(lambda: c.create(cm("lk_bad")))
ok(
    st.code == 422
    and st.reason == "Invalid"
    and any(x.field == "metadata.name" for x in st.details.causes),
    "422 Invalid with the field",
    st,
)

# --- patch types ----------------------------------------------------------
p = c.patch(
    ConfigMap, "lk-a", [{"op": "add", "path": "/data/b", "value": "3"}],
    namespace=NS, patch_type=PatchType.JSON,
)
ok(p.data == {"a": "2", "b": "3"}, "json patch", p.data)
p = c.patch(ConfigMap, "lk-a", {"data": {"a": None}}, namespace=NS, patch_type=PatchType.MERGE)
ok(p.data == {"b": "3"}, "merge patch", p.data)
c.create(ServiceAccount(metadata=ObjectMeta(name="lk-sa", namespace=NS), secrets=[{"name": "s1"}]))
sa = c.patch(ServiceAccount, "lk-sa", {"secrets": [{"name": "s2"}]}, namespace=NS)
ok(
    sorted(s.name for s in sa.secrets) == ["s1", "s2"],
    "strategic merge patch (lightkube's default) merges by key",
    sa.secrets,
)
applied = c.apply(cm("lk-applied", {"k": "one"}), field_manager="lk-one")
ok(applied.data == {"k": "one"}, "apply creates")
st = refused(lambda: c.apply(cm("lk-applied", {"k": "two"}), field_manager="lk-two"))
ok(st.code == 409 and st.reason == "Conflict", "apply conflict: 409", st)
forced = c.apply(cm("lk-applied", {"k": "two"}), field_manager="lk-two", force=True)
ok(forced.data == {"k": "two"}, "apply with force")
ok(
    sorted(m.manager for m in forced.metadata.managedFields) == ["lk-two"],
    "force moves the field's ownership",
    forced.metadata.managedFields,
)

# --- list paging ----------------------------------------------------------
for i in range(5):
    c.create(cm(f"lk-page-{i}", labels={"page": "lk"}))
queries.clear()
names = [o.metadata.name for o in c.list(ConfigMap, namespace=NS, chunk_size=2, labels={"page": "lk"})]
ok(names == [f"lk-page-{i}" for i in range(5)], "chunked list returns every item once", names)
ok(
    len(queries) == 3 and all("limit=2" in q for q in queries)
    and sum("continue=" in q for q in queries) == 2,
    "three pages, two with continue",
    queries,
)

# --- watch and resume -----------------------------------------------------
everything = c.list(ConfigMap, namespace=NS)
ok(len(list(everything)) > 5, "list")
start = everything.resourceVersion
c.create(cm("lk-w1"))
c.create(cm("lk-w2"))
seen = []
for typ, obj in c.watch(ConfigMap, namespace=NS, resource_version=start, server_timeout=10):
    seen.append((typ, obj.metadata.name))
    if len(seen) == 1:
        last = obj.metadata.resourceVersion
    if len(seen) == 2:
        break
ok(seen == [("ADDED", "lk-w1"), ("ADDED", "lk-w2")], "watch from a resourceVersion", seen)
c.delete(ConfigMap, "lk-w1", namespace=NS)
seen = []
for typ, obj in c.watch(ConfigMap, namespace=NS, resource_version=last, server_timeout=10):
    seen.append((typ, obj.metadata.name))
    if len(seen) == 2:
        break
ok(seen == [("ADDED", "lk-w2"), ("DELETED", "lk-w1")], "watch resumes after a seen event", seen)

# --- 404, 410 -------------------------------------------------------------
c.delete(ConfigMap, "lk-a", namespace=NS)
st = refused(lambda: c.get(ConfigMap, "lk-a", namespace=NS))
ok(st.code == 404 and st.reason == "NotFound", "404 after delete", st)
for i in range(40):
    c.create(cm(f"lk-fill-{i}"))
try:
    for typ, obj in c.watch(ConfigMap, namespace=NS, resource_version=start, server_timeout=10):
        ok(False, "a watch from a compacted resourceVersion", typ)
except ApiError as e:
    ok(e.status.code == 410 and e.status.reason == "Expired", "410 on a too old watch", e.status)

print("done", flush=True)
