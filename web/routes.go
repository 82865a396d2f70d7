package web

import "github.com/lookout-dev/lookout/auth"

// routes lists every route on the main port.
func (h *Handler) routes() {
	// Unauthenticated: probes and self-metrics.
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.HandleFunc("GET /metrics", h.metrics)

	// The UI's static files and sign-in, open to all.
	h.mux.Handle("GET /static/", h.assets)
	h.mux.HandleFunc("GET /login", h.loginForm)
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.Handle("POST /logout", h.page(auth.RoleViewer, h.logout))
	h.pageRoutes()

	// Logs and traces API (viewer and up); GET and POST form, as
	// Prometheus' API accepts both.
	for _, m := range []string{"GET ", "POST "} {
		h.mux.Handle(m+"/api/v1/logs", h.authed(auth.RoleViewer, h.logs))
		h.mux.Handle(m+"/api/v1/traces", h.authed(auth.RoleViewer, h.traces))
		h.mux.Handle(m+"/api/v1/traces/{trace_id}", h.authed(auth.RoleViewer, h.trace))
		h.mux.Handle(m+"/api/v1/services", h.authed(auth.RoleViewer, h.services))
	}

	// Prometheus-compatible query API (viewer and up), what Grafana's
	// Prometheus data source calls. GET and POST form everywhere: Grafana
	// POSTs when so configured and falls back to GET only on 400 or 405.
	for _, m := range []string{"GET ", "POST "} {
		h.mux.Handle(m+"/api/v1/query", h.authed(auth.RoleViewer, h.promRoute(h.promQuery)))
		h.mux.Handle(m+"/api/v1/query_range", h.authed(auth.RoleViewer, h.promRoute(h.promQueryRange)))
		h.mux.Handle(m+"/api/v1/query_exemplars", h.authed(auth.RoleViewer, h.promRoute(h.promQueryExemplars)))
		h.mux.Handle(m+"/api/v1/format_query", h.authed(auth.RoleViewer, h.promRoute(h.promFormatQuery)))
		h.mux.Handle(m+"/api/v1/series", h.authed(auth.RoleViewer, h.promRoute(h.promSeries)))
		h.mux.Handle(m+"/api/v1/labels", h.authed(auth.RoleViewer, h.promRoute(h.promLabels)))
		h.mux.Handle(m+"/api/v1/label/{name}/values", h.authed(auth.RoleViewer, h.promRoute(h.promLabelValues)))
		h.mux.Handle(m+"/api/v1/metadata", h.authed(auth.RoleViewer, h.promRoute(h.promMetadata)))
		h.mux.Handle(m+"/api/v1/status/buildinfo", h.authed(auth.RoleViewer, h.promRoute(h.promBuildInfo)))
	}

	// Prometheus' rules and alerts API (viewer and up), what Grafana's
	// alert list reads; 404 while alerting is not configured. Prometheus
	// serves these on GET only; POST is accepted as on the query API.
	for _, m := range []string{"GET ", "POST "} {
		h.mux.Handle(m+"/api/v1/rules", h.authed(auth.RoleViewer, h.alertsRoute(h.promRules)))
		h.mux.Handle(m+"/api/v1/alerts", h.authed(auth.RoleViewer, h.alertsRoute(h.promAlerts)))
	}

	// Prometheus' lifecycle reload (editor and up): rule files and the
	// Alertmanager config. POST and PUT, as Prometheus takes both; the mux
	// answers 405 to other methods.
	h.mux.Handle("POST /-/reload", h.authed(auth.RoleEditor, h.reload))
	h.mux.Handle("PUT /-/reload", h.authed(auth.RoleEditor, h.reload))

	// The embedded Alertmanager's own API, what amtool and Grafana's
	// Alertmanager data source call: reading (GET, and HEAD with it) is
	// viewer and up; everything else changes silences or alerts, so it is
	// editor and up.
	h.mux.Handle("GET /alertmanager/", h.authed(auth.RoleViewer, h.alertmanager))
	h.mux.Handle("/alertmanager/", h.authed(auth.RoleEditor, h.alertmanager))

	// Everything else under /api/, /api/v1/parse_query included, is 404
	// in Prometheus' error shape.
	h.mux.Handle("/api/", h.authed(auth.RoleViewer, h.notFound))
}
