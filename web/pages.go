package web

import "github.com/lookout-dev/lookout/auth"

// pageRoutes lists the UI's pages. Each page's handler and .templ live in
// page_<name>.go and <name>.templ; h.page checks the session, the role
// and the CSRF token, and sets the security headers.
func (h *Handler) pageRoutes() {
	// Services overview and a service's page (page_services.go).
	h.mux.Handle("GET /{$}", h.page(auth.RoleViewer, h.servicesUI))
	h.mux.Handle("GET /services/{name}", h.page(auth.RoleViewer, h.serviceUI))

	// Traces: search and one trace (page_traces.go).
	h.mux.Handle("GET /traces", h.page(auth.RoleViewer, h.traceSearchPage))
	h.mux.Handle("GET /traces/{trace_id}", h.page(auth.RoleViewer, h.traceViewPage))

	// Logs explorer and live tail (page_logs.go).
	h.mux.Handle("GET /logs", h.page(auth.RoleViewer, h.logsPage))
	h.mux.Handle("GET /logs/tail", h.page(auth.RoleViewer, newLogTail(h).serve))
	h.mux.Handle("GET /logs/histogram", h.page(auth.RoleViewer, h.logsHistogramPage))

	// Metrics explorer: PromQL as a chart or a table (page_explore.go).
	h.mux.Handle("GET /explore", h.page(auth.RoleViewer, h.explore))

	// Alerts: rules, firing and pending alerts, silences and notification
	// history (page_alerts.go). Silences change through POST forms
	// (editor and up) answered with a redirect back to /alerts.
	h.mux.Handle("GET /alerts", h.page(auth.RoleViewer, h.alertsUI))
	h.mux.Handle("GET /alerts/silences/new", h.page(auth.RoleEditor, h.silences(h.silenceForm)))
	h.mux.Handle("POST /alerts/silences", h.page(auth.RoleEditor, h.silences(h.createSilence)))
	h.mux.Handle("POST /alerts/silences/{id}/expire", h.page(auth.RoleEditor, h.silences(h.expireSilence)))

	// Settings: users, API keys and ingest tokens, admin only (page_settings.go).
	// Each action is a POST form answered with a redirect back to
	// /settings, except creating a token, which answers with the page
	// showing the secret once (no redirect: it is in no URL or history).
	h.mux.Handle("GET /settings", h.adminSettings(h.settings))
	h.mux.Handle("GET /settings/", h.adminSettings(h.settingsHome)) // a reloaded action's address
	h.mux.Handle("POST /settings/users", h.adminSettings(h.createUser))
	h.mux.Handle("POST /settings/users/{name}/role", h.adminSettings(h.setUserRole))
	h.mux.Handle("POST /settings/users/{name}/password", h.adminSettings(h.resetPassword))
	h.mux.Handle("POST /settings/users/{name}/delete", h.adminSettings(h.deleteUser))
	h.mux.Handle("POST /settings/tokens", h.adminSettings(h.createToken))
	h.mux.Handle("POST /settings/tokens/{name}/revoke", h.adminSettings(h.revokeToken))
}
