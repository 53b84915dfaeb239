// Command ctrlruntime is a provider controller written with plain
// controller-runtime the way multicluster-runtime's kcp provider
// (github.com/kcp-dev/multicluster-provider, apiexport) organises one:
//
//  1. a manager on the provider's own workspace (KUBECONFIG) reads the
//     export's APIExportEndpointSlice and takes its endpoint URL;
//  2. a list+watch at <url>/clusters/* of the export's APIBindings
//     (apis.kcp.io/v1alpha1, which the endpoint serves read-only, selected
//     by the internal.apis.kcp.io/export label) "engages" the logical
//     cluster (the kcp.io/cluster annotation) of each binding whose Ready
//     condition is True — what the kcp provider does;
//  3. each engaged workspace gets a controller-runtime Cluster at
//     <url>/clusters/<logical-cluster> (its own cache and client) and a
//     controller whose reconciler writes the instance's status through it.
//
// multicluster-runtime and the kcp provider are not on the module proxy
// this project's machines reach, so this is the same structure built from
// controller-runtime's own pieces (cluster.New, source.Kind, controller.New),
// which is what multicluster-runtime wraps.
//
// Usage: ctrlruntime <endpoint-slice-name>. Runs until killed; logs
// "engaged <cluster>" and "reconciled <cluster>/<ns>/<name> size=<n>".
package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

var (
	gadgetGVK  = schema.GroupVersionKind{Group: "example.io", Version: "v1", Kind: "Gadget"}
	sliceGVK   = schema.GroupVersionKind{Group: "apis.kcp.io", Version: "v1alpha1", Kind: "APIExportEndpointSlice"}
	bindingGVR = schema.GroupVersionResource{Group: "apis.kcp.io", Version: "v1alpha1", Resource: "apibindings"}
)

func newGadget() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gadgetGVK)
	return u
}

func fail(format string, args ...any) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// endpointURL waits for the slice's first endpoint, as the kcp provider
// does before it starts its wildcard cache.
func endpointURL(ctx context.Context, c client.Reader, name string) string {
	for {
		slice := &unstructured.Unstructured{}
		slice.SetGroupVersionKind(sliceGVK)
		if err := c.Get(ctx, client.ObjectKey{Name: name}, slice); err != nil {
			fail("get apiexportendpointslice %s: %v", name, err)
		}
		eps, _, _ := unstructured.NestedSlice(slice.Object, "status", "endpoints")
		if len(eps) > 0 {
			if ep, ok := eps[0].(map[string]any); ok {
				if url, _ := ep["url"].(string); url != "" {
					return url
				}
			}
		}
		select {
		case <-ctx.Done():
			fail("no endpoint URL in apiexportendpointslice %s", name)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// at is cfg pointed at another URL of the same server.
func at(cfg *rest.Config, url string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Host = url
	return c
}

// ready says whether a binding's Ready condition is True.
func ready(b *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(b.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// discover lists and watches the export's APIBindings at <url>/clusters/*
// and calls engage with the logical cluster of every Ready one. It is a
// plain list+watch rather than a controller-runtime cache because an
// informer keys objects by namespace/name: across workspaces two bindings
// of the same name are one key, and the second workspace would never be
// seen (kcp's own wildcard caches key by cluster too).
func discover(ctx context.Context, ri dynamic.ResourceInterface, engage func(string)) {
	seen := func(o *unstructured.Unstructured) {
		if ready(o) {
			engage(o.GetAnnotations()["kcp.io/cluster"])
		}
	}
	for ctx.Err() == nil {
		list, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			fmt.Printf("wildcard list: %v\n", err)
			time.Sleep(time.Second)
			continue
		}
		for i := range list.Items {
			seen(&list.Items[i])
		}
		w, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			fmt.Printf("wildcard watch: %v\n", err)
			time.Sleep(time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			if o, ok := ev.Object.(*unstructured.Unstructured); ok && ev.Type != watch.Error {
				seen(o)
			}
		}
		w.Stop()
	}
}

// reconciler writes a Gadget's status in the one workspace its cluster is.
type reconciler struct {
	name string
	cl   cluster.Cluster
}

func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	g := newGadget()
	if err := r.cl.GetClient().Get(ctx, req.NamespacedName, g); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	size, _, _ := unstructured.NestedInt64(g.Object, "spec", "size")
	observed, found, _ := unstructured.NestedInt64(g.Object, "status", "observedSize")
	phase, _, _ := unstructured.NestedString(g.Object, "status", "phase")
	if found && observed == size && phase == "Ready" {
		return reconcile.Result{}, nil
	}
	if err := unstructured.SetNestedField(g.Object, "Ready", "status", "phase"); err != nil {
		return reconcile.Result{}, err
	}
	if err := unstructured.SetNestedField(g.Object, size, "status", "observedSize"); err != nil {
		return reconcile.Result{}, err
	}
	// PUT .../status with the cached object's resourceVersion: a 409 on a
	// stale cache is retried once the watch has brought the newer object.
	if err := r.cl.GetClient().Status().Update(ctx, g); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: 200 * time.Millisecond}, nil
		}
		return reconcile.Result{}, err
	}
	fmt.Printf("reconciled %s/%s/%s size=%d\n", r.name, req.Namespace, req.Name, size)
	return reconcile.Result{}, nil
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: ctrlruntime <endpoint-slice-name>")
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	ctx := ctrl.SetupSignalHandler()

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		fail("manager: %v", err)
	}
	startup, cancel := context.WithTimeout(ctx, 60*time.Second)
	url := endpointURL(startup, mgr.GetAPIReader(), os.Args[1])
	cancel()
	fmt.Printf("endpoint %s\n", url)

	wildcard, err := dynamic.NewForConfig(at(cfg, url+"/clusters/*"))
	if err != nil {
		fail("wildcard client: %v", err)
	}

	var mu sync.Mutex
	engaged := map[string]bool{}
	engage := func(lc string) {
		mu.Lock()
		defer mu.Unlock()
		if lc == "" || engaged[lc] {
			return
		}
		engaged[lc] = true
		cl, err := cluster.New(at(cfg, url+"/clusters/"+lc))
		if err != nil {
			fail("cluster %s: %v", lc, err)
		}
		// Added to a running manager, the cluster (its cache) starts now.
		if err := mgr.Add(cl); err != nil {
			fail("add cluster %s: %v", lc, err)
		}
		c, err := controller.New("gadget-"+lc, mgr, controller.Options{
			Reconciler: &reconciler{name: lc, cl: cl},
		})
		if err != nil {
			fail("controller %s: %v", lc, err)
		}
		src := source.Kind[client.Object](cl.GetCache(), newGadget(), &handler.EnqueueRequestForObject{})
		if err := c.Watch(src); err != nil {
			fail("watch %s: %v", lc, err)
		}
		fmt.Printf("engaged %s\n", lc)
	}

	// Engage every workspace whose binding to the export is Ready.
	go discover(ctx, wildcard.Resource(bindingGVR), engage)

	fmt.Println("starting")
	if err := mgr.Start(ctx); err != nil {
		fail("manager: %v", err)
	}
}
