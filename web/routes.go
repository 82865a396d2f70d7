package web

import "github.com/lookout-dev/lookout/auth"

// routes lists every route on the main port.
func (h *Handler) routes() {
	// Unauthenticated: probes and self-metrics.
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.HandleFunc("GET /metrics", h.metrics)

	// Logs and traces API (viewer and up); GET and POST form, as
	// Prometheus' API accepts both.
	for _, m := range []string{"GET ", "POST "} {
		h.mux.Handle(m+"/api/v1/logs", h.authed(auth.RoleViewer, h.logs))
		h.mux.Handle(m+"/api/v1/traces", h.authed(auth.RoleViewer, h.traces))
		h.mux.Handle(m+"/api/v1/traces/{trace_id}", h.authed(auth.RoleViewer, h.trace))
		h.mux.Handle(m+"/api/v1/services", h.authed(auth.RoleViewer, h.services))
	}
	h.mux.Handle("/api/", h.authed(auth.RoleViewer, h.notFound))
}
