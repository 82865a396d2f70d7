package web

import (
	"encoding/json"
	"net/http"

	"github.com/lookout-dev/lookout/auth"
)

// chrome is the view model of what every page shares: the title, the
// navigation, who is signed in and the asset addresses.
type chrome struct {
	Title    string
	Active   string // the nav item's label, or ""
	User     string
	Role     string
	CSRF     string
	SignedIn bool
	Nav      []navItem
	CSS, JS  string
	Icon     string
	HTMX     string
	// Charts loads the chart library (uPlot) on pages that draw charts.
	Charts bool
	// PageCSS and PageJS are a page's own stylesheet and script (asset
	// URLs from h.assets.url), if it has them.
	PageCSS, PageJS string
	ChartJS         string
	ChartCSS        string
}

type navItem struct {
	Label, Href string
	TestID      string
}

// nav is the navigation bar; admin-only items are left out for others.
func nav(role auth.Role) []navItem {
	items := []navItem{
		{"Services", "/", "nav-services"},
		{"Logs", "/logs", "nav-logs"},
		{"Traces", "/traces", "nav-traces"},
		{"Metrics", "/explore", "nav-explore"},
		{"Alerts", "/alerts", "nav-alerts"},
	}
	if role.Allows(auth.RoleAdmin) {
		items = append(items, navItem{"Settings", "/settings", "nav-settings"})
	}
	return items
}

// chrome builds the shared view model for a page rendered for r.
func (h *Handler) chrome(r *http.Request, title, active string) chrome {
	v := viewerFrom(r.Context())
	c := chrome{
		Title:    title,
		Active:   active,
		User:     v.principal.Name,
		Role:     string(v.principal.Role),
		CSRF:     v.csrf,
		SignedIn: v.principal.Name != "",
		CSS:      h.assets.url("lookout.css"),
		JS:       h.assets.url("lookout.js"),
		Icon:     h.assets.url("favicon.svg"),
		HTMX:     h.assets.url("vendor/htmx-2.0.11.min.js"),
		ChartJS:  h.assets.url("vendor/uPlot-1.6.32.iife.min.js"),
		ChartCSS: h.assets.url("vendor/uPlot-1.6.32.min.css"),
	}
	if c.SignedIn {
		c.Nav = nav(v.principal.Role)
	}
	return c
}

// hxHeaders is the hx-headers value that makes htmx send the CSRF token
// with every request it makes.
func (c chrome) hxHeaders() string {
	if c.CSRF == "" {
		return ""
	}
	b, _ := json.Marshal(map[string]string{csrfHeader: c.CSRF})
	return string(b)
}
