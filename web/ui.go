package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"

	"github.com/a-h/templ"

	"github.com/lookout-dev/lookout/auth"
)

// Sessions signs users in to the UI; auth.Service satisfies it.
type Sessions interface {
	Login(ctx context.Context, user, password, addr string) (auth.Session, error)
	Session(ctx context.Context, id string) (auth.Principal, auth.Session, error)
	Logout(ctx context.Context, id string) error
}

const (
	sessionCookie = "lookout_session"
	// loginCookie carries the login form's CSRF token before there is a
	// session to tie it to (double submit).
	loginCookie = "lookout_login"
	csrfField   = "_csrf"
	csrfHeader  = "X-CSRF-Token"
	// maxFormBytes bounds a UI form's body.
	maxFormBytes = 1 << 20
)

// contentSecurityPolicy allows scripts, styles and connections only from
// lookout itself: no inline script or style, no framing, forms only to
// lookout.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed static
var staticFiles embed.FS

// assets serves the embedded static files. Their URLs carry a hash of the
// content, so they are cached for a year and a new build is fetched anew.
type assets struct {
	fs      fs.FS
	version map[string]string // name -> short content hash
}

func newAssets() (*assets, error) {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	a := &assets{fs: sub, version: make(map[string]string)}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.version[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	return a, err
}

// url is the address of a static file, with its content hash.
func (a *assets) url(name string) string {
	return "/static/" + name + "?v=" + a.version[name]
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/static/")
	if _, ok := a.version[name]; !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == a.version[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(w, r, a.fs, name)
}

// viewer is who a page is rendered for.
type viewer struct {
	principal auth.Principal
	csrf      string // empty for API keys and Basic credentials
	// basic is set when the credentials were HTTP Basic, which a browser
	// that has seen them adds to requests on its own, as it does cookies.
	basic bool
}

type viewerKey struct{}

// withViewer is ctx carrying who the request is from, for the handlers
// and pages it reaches (viewerFrom).
func withViewer(ctx context.Context, v viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

func viewerFrom(ctx context.Context) viewer {
	v, _ := ctx.Value(viewerKey{}).(viewer)
	return v
}

// securityHeaders are set on every UI response.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

// identify finds who a request is from: a session cookie, or else an API
// key or Basic credentials. The error wraps auth.ErrUnauthenticated when
// there are no valid credentials, or auth.ErrRateLimited.
func (h *Handler) identify(r *http.Request) (viewer, error) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		p, s, err := h.opts.Sessions.Session(r.Context(), c.Value)
		switch {
		case err == nil:
			return viewer{principal: p, csrf: s.CSRF}, nil
		case !errors.Is(err, auth.ErrUnauthenticated):
			return viewer{}, err // meta.db could not answer: not a sign-out
		}
	}
	p, err := h.opts.Auth.AuthenticateRequestFrom(r, h.clientAddr(r))
	if err != nil {
		return viewer{}, err
	}
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return viewer{principal: p, basic: strings.EqualFold(scheme, "Basic")}, nil
}

// csrfOK checks the CSRF token of a state-changing request made with a
// session cookie. Requests with an API key or Basic credentials carry no
// cookie a browser adds on its own, so they need none.
func csrfOK(r *http.Request, v viewer) bool {
	if safeMethod(r.Method) {
		return true
	}
	if v.csrf == "" {
		return true
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) == 1
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// page wraps a UI handler: it runs only for a signed-in principal holding
// need (others are sent to /login, or get 403), with the security headers
// set and CSRF checked.
func (h *Handler) page(need auth.Role, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		w.Header().Set("Cache-Control", "no-store")
		v, err := h.identify(r)
		switch {
		case errors.Is(err, auth.ErrUnauthenticated) || errors.Is(err, auth.ErrRateLimited):
			h.toLogin(w, r)
			return
		case err != nil:
			h.uiInternal(w, r, err)
			return
		}
		// Error pages below show the navigation of who is signed in.
		r = r.WithContext(withViewer(r.Context(), v))
		if !v.principal.Role.Allows(need) {
			h.renderError(w, r, http.StatusForbidden, "Forbidden",
				"Your role ("+string(v.principal.Role)+") may not do this; it needs "+string(need)+".")
			return
		}
		// UI forms are small; the CSRF check reads the form, so bound it
		// here.
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if !csrfOK(r, v) {
			h.renderError(w, r, http.StatusForbidden, "Forbidden", "The form was stale or did not come from this page. Reload the page and try again.")
			return
		}
		if v.basic && !safeMethod(r.Method) {
			h.renderError(w, r, http.StatusForbidden, "Forbidden", "Sign in to change things from the UI; HTTP Basic credentials only read pages. Scripts use the API with an API key.")
			return
		}
		next(w, r)
	})
}

// toLogin sends a browser to the login page, remembering where it was
// going; htmx requests are told to navigate there instead of swapping it
// into the page.
func (h *Handler) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site: an absolute path,
// never "//host", a URL with a scheme, or a backslash or control
// character (browsers read "/\host" as "//host", and http.Redirect
// cleans "/./\host" into it). The path is cleaned here, as http.Redirect
// would, before it is checked.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	clean := path.Clean(u.Path)
	if strings.HasPrefix(clean, "//") || !strings.HasPrefix(clean, "/") {
		return "/"
	}
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	u.Path, u.RawPath = clean, ""
	return u.String()
}

// clientAddr is the address failed sign-ins are counted against: the
// connection's peer or, when the peer is a trusted proxy, the nearest
// address in X-Forwarded-For that is not one (the entries a client adds
// itself are to the left of those its proxies add, so they are never
// reached while a trusted proxy is in between).
func (h *Handler) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !h.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if _, err := netip.ParseAddr(hop); err != nil {
			return host // a malformed list: count the proxy, not a guess
		}
		if !h.trusted(hop) {
			return hop
		}
		host = hop
	}
	return host
}

func (h *Handler) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range h.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// render writes a component as an HTML page or fragment.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil && !errors.Is(err, context.Canceled) {
		h.log.Error("render", "path", r.URL.Path, "err", err)
	}
}

// isFragment reports whether r is an htmx request for part of a page. A
// boosted link and the back button's history restore want the whole page.
func isFragment(r *http.Request) bool {
	return r.Header.Get("HX-Request") != "" && r.Header.Get("HX-Boosted") == "" &&
		r.Header.Get("HX-History-Restore-Request") == ""
}

// renderError renders an error page (or, for htmx, the message alone).
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.renderPage(w, r, status, errorPage(h.chrome(r, title, ""), title, msg), errorMessage(msg))
}

// uiInternal answers an internal error on a page: logged once with a
// request id, shown without internals.
func (h *Handler) uiInternal(w http.ResponseWriter, r *http.Request, err error) {
	id := h.logInternal(r, "ui_request", err)
	h.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"lookout could not answer this page (request id "+id+"). The cause is in lookout's log.")
}
