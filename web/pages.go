package web

import "github.com/lookout-dev/lookout/auth"

// pageRoutes lists the UI's pages. Each page's handler and .templ live in
// page_<name>.go and <name>.templ; h.page checks the session, the role
// and the CSRF token, and sets the security headers.
func (h *Handler) pageRoutes() {
	_ = auth.RoleViewer
	// Services overview and a service's page (page_services.go).

	// Traces: search and one trace (page_traces.go).

	// Logs explorer and live tail (page_logs.go).

	// Settings: users, API keys and ingest tokens, admin only (page_settings.go).
}
