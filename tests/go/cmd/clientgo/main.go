// Command clientgo exercises client-go against one Trellis workspace: the
// typed clientset (JSON and protobuf), the dynamic client, a shared
// informer, the list pager and server-side apply, with the error helpers
// (apierrors.IsConflict, ...) a controller relies on.
//
// Run by tests/e2e/third_party.rs with KUBECONFIG pointing at a workspace
// and a server keeping a short watch history (--watch-history-events 30).
// Prints "ok: <check>" per check and exits 1 at the first mismatch.
package main

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/pager"
)

const ns = "default"

func ok(cond bool, what string, detail ...any) {
	if !cond {
		fmt.Printf("FAIL: %s: %v\n", what, detail)
		os.Exit(1)
	}
	fmt.Printf("ok: %s\n", what)
}

func must[T any](v T, err error) T {
	if err != nil {
		fmt.Printf("FAIL: unexpected error: %v\n", err)
		os.Exit(1)
	}
	return v
}

func cm(name string, data map[string]string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Data:       data,
	}
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := must(clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG")))
	cs := must(kubernetes.NewForConfig(cfg))
	cms := cs.CoreV1().ConfigMaps(ns)

	// --- typed CRUD and errors -------------------------------------------
	made := must(cms.Create(ctx, cm("go-a", map[string]string{"a": "1"}, nil), metav1.CreateOptions{}))
	ok(made.UID != "" && made.Data["a"] == "1", "typed create", made)
	got := must(cms.Get(ctx, "go-a", metav1.GetOptions{}))
	ok(got.ResourceVersion == made.ResourceVersion, "typed get")
	got.Data["a"] = "2"
	upd := must(cms.Update(ctx, got, metav1.UpdateOptions{}))
	ok(upd.Data["a"] == "2", "typed update", upd.Data)
	_, err := cms.Create(ctx, cm("go-a", nil, nil), metav1.CreateOptions{})
	ok(apierrors.IsAlreadyExists(err), "409 AlreadyExists", err)
	_, err = cms.Update(ctx, got, metav1.UpdateOptions{})
	ok(apierrors.IsConflict(err), "409 Conflict on a stale resourceVersion", err)
	_, err = cms.Create(ctx, cm("Go_Bad", nil, nil), metav1.CreateOptions{})
	invalid := false
	if st, isStatus := err.(apierrors.APIStatus); isStatus && apierrors.IsInvalid(err) {
		for _, c := range st.Status().Details.Causes {
			invalid = invalid || c.Field == "metadata.name"
		}
	}
	ok(invalid, "422 Invalid with the field", err)

	// The same clientset over protobuf, as kube's own components talk.
	pcfg := *cfg
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcs := must(kubernetes.NewForConfig(&pcfg))
	pb := must(pcs.CoreV1().ConfigMaps(ns).Get(ctx, "go-a", metav1.GetOptions{}))
	ok(pb.Data["a"] == "2", "typed get over protobuf", pb.Data)

	// --- patch types -----------------------------------------------------
	p := must(cms.Patch(ctx, "go-a", types.JSONPatchType,
		[]byte(`[{"op":"add","path":"/data/b","value":"3"}]`), metav1.PatchOptions{}))
	ok(reflect.DeepEqual(p.Data, map[string]string{"a": "2", "b": "3"}), "json patch", p.Data)
	p = must(cms.Patch(ctx, "go-a", types.MergePatchType,
		[]byte(`{"data":{"a":null}}`), metav1.PatchOptions{}))
	ok(reflect.DeepEqual(p.Data, map[string]string{"b": "3"}), "merge patch", p.Data)
	sas := cs.CoreV1().ServiceAccounts(ns)
	must(sas.Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "go-sa"},
		Secrets:    []corev1.ObjectReference{{Name: "s1"}},
	}, metav1.CreateOptions{}))
	sa := must(sas.Patch(ctx, "go-sa", types.StrategicMergePatchType,
		[]byte(`{"secrets":[{"name":"s2"}]}`), metav1.PatchOptions{}))
	var secrets []string
	for _, s := range sa.Secrets {
		secrets = append(secrets, s.Name)
	}
	sort.Strings(secrets)
	ok(reflect.DeepEqual(secrets, []string{"s1", "s2"}), "strategic merge patch merges by key", secrets)

	// --- server-side apply (typed apply configurations) -------------------
	ac := corev1ac.ConfigMap("go-applied", ns).WithData(map[string]string{"k": "one"})
	applied := must(cms.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "go-one"}))
	ok(applied.Data["k"] == "one" && len(applied.ManagedFields) == 1 &&
		applied.ManagedFields[0].Manager == "go-one", "apply creates", applied.ManagedFields)
	ac2 := corev1ac.ConfigMap("go-applied", ns).WithData(map[string]string{"k": "two"})
	_, err = cms.Apply(ctx, ac2, metav1.ApplyOptions{FieldManager: "go-two"})
	ok(apierrors.IsConflict(err), "apply conflict: 409", err)
	forced := must(cms.Apply(ctx, ac2, metav1.ApplyOptions{FieldManager: "go-two", Force: true}))
	ok(forced.Data["k"] == "two", "apply with force", forced.Data)

	// --- list paging with the pager client-go's reflectors use -----------
	for i := 0; i < 5; i++ {
		must(cms.Create(ctx, cm(fmt.Sprintf("go-page-%d", i), nil, map[string]string{"page": "go"}), metav1.CreateOptions{}))
	}
	pages := 0
	pg := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		pages++
		return cms.List(ctx, opts)
	})
	pg.PageSize = 2
	var names []string
	must(struct{}{}, pg.EachListItem(ctx, metav1.ListOptions{LabelSelector: "page=go"}, func(o runtime.Object) error {
		names = append(names, o.(*corev1.ConfigMap).Name)
		return nil
	}))
	ok(pages == 3 && len(names) == 5 && names[0] == "go-page-0" && names[4] == "go-page-4",
		"list pager: every item once", pages, names)

	// --- dynamic client ----------------------------------------------------
	dyn := must(dynamic.NewForConfig(cfg))
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "go-dyn", "labels": map[string]any{"via": "dynamic"}},
		"data":     map[string]any{"x": "1"},
	}}
	du := must(dyn.Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}))
	ok(du.GetUID() != "", "dynamic create")
	dl := must(dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: "via=dynamic"}))
	ok(len(dl.Items) == 1 && dl.Items[0].GetName() == "go-dyn", "dynamic list", len(dl.Items))
	u.Object["data"] = map[string]any{"x": "2"}
	delete(u.Object["metadata"].(map[string]any), "resourceVersion")
	da := must(dyn.Resource(gvr).Namespace(ns).Apply(ctx, "go-dyn", u, metav1.ApplyOptions{FieldManager: "go-dyn", Force: true}))
	x, _, _ := unstructured.NestedString(da.Object, "data", "x")
	ok(x == "2", "dynamic apply", da.Object["data"])

	// --- an informer -------------------------------------------------------
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "inf=go" }))
	inf := factory.Core().V1().ConfigMaps().Informer()
	seen := make(chan string, 16)
	must(inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { seen <- "add " + o.(*corev1.ConfigMap).Name },
		UpdateFunc: func(_, o any) {
			if o.(*corev1.ConfigMap).Data["v"] == "2" {
				seen <- "update " + o.(*corev1.ConfigMap).Name
			}
		},
		DeleteFunc: func(o any) {
			if d, tomb := o.(cache.DeletedFinalStateUnknown); tomb {
				o = d.Obj
			}
			seen <- "delete " + o.(*corev1.ConfigMap).Name
		},
	}))
	must(cms.Create(ctx, cm("go-inf-0", nil, map[string]string{"inf": "go"}), metav1.CreateOptions{}))
	stop := make(chan struct{})
	factory.Start(stop)
	ok(cache.WaitForCacheSync(ctx.Done(), inf.HasSynced), "informer synced")
	must(cms.Create(ctx, cm("go-inf-1", nil, map[string]string{"inf": "go"}), metav1.CreateOptions{}))
	must(cms.Patch(ctx, "go-inf-1", types.MergePatchType, []byte(`{"data":{"v":"2"}}`), metav1.PatchOptions{}))
	must(struct{}{}, cms.Delete(ctx, "go-inf-0", metav1.DeleteOptions{}))
	want := []string{"add go-inf-0", "add go-inf-1", "update go-inf-1", "delete go-inf-0"}
	var events []string
	for len(events) < len(want) {
		select {
		case e := <-seen:
			events = append(events, e)
		case <-ctx.Done():
			ok(false, "informer sees add, update, delete", events)
		}
	}
	close(stop)
	factory.Shutdown()
	ok(reflect.DeepEqual(events, want), "informer sees add, update, delete", events)

	// --- watch, resume, 410 ------------------------------------------------
	start := must(cms.List(ctx, metav1.ListOptions{})).ResourceVersion
	must(cms.Create(ctx, cm("go-w1", nil, nil), metav1.CreateOptions{}))
	must(cms.Create(ctx, cm("go-w2", nil, nil), metav1.CreateOptions{}))
	next := func(w watch.Interface) watch.Event {
		select {
		case e := <-w.ResultChan():
			return e
		case <-time.After(20 * time.Second):
			ok(false, "a watch event within 20s")
		}
		return watch.Event{}
	}
	w := must(cms.Watch(ctx, metav1.ListOptions{ResourceVersion: start}))
	first := next(w).Object.(*corev1.ConfigMap)
	w.Stop()
	must(struct{}{}, cms.Delete(ctx, "go-w1", metav1.DeleteOptions{}))
	w = must(cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion}))
	e1, e2 := next(w), next(w)
	w.Stop()
	ok(first.Name == "go-w1" &&
		e1.Type == watch.Added && e1.Object.(*corev1.ConfigMap).Name == "go-w2" &&
		e2.Type == watch.Deleted && e2.Object.(*corev1.ConfigMap).Name == "go-w1",
		"watch resumes after the last event seen", e1.Type, e2.Type)
	for i := 0; i < 40; i++ {
		must(cms.Create(ctx, cm(fmt.Sprintf("go-fill-%d", i), nil, nil), metav1.CreateOptions{}))
	}
	w = must(cms.Watch(ctx, metav1.ListOptions{ResourceVersion: start}))
	e := next(w)
	w.Stop()
	gone := false
	if e.Type == watch.Error {
		err := apierrors.FromObject(e.Object)
		gone = apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
	}
	ok(gone, "410 on a too old watch", e)
	fmt.Println("done")
}
