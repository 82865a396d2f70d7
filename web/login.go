package web

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/lookout-dev/lookout/auth"
)

// loginForm shows the login page, with a fresh CSRF token in a cookie and
// the form (double submit: there is no session yet to tie it to).
func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := h.identify(r); err == nil && r.Header.Get("Authorization") == "" {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	h.showLogin(w, r, http.StatusOK, r.URL.Query().Get("next"), "", "")
}

func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request, status int, next, user, msg string) {
	token := randomToken()
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: token, Path: "/login", MaxAge: 3600,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteStrictMode,
	})
	h.render(w, r, status, loginPage(loginView{
		Chrome: h.chrome(r, "Sign in", ""),
		User:   user,
		Next:   safeNext(next),
		CSRF:   token,
		Error:  msg,
	}))
}

// login checks the form and, on success, sets the session cookie and goes
// where the user was going.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	user, password, next := r.PostFormValue("user"), r.PostFormValue("password"), r.PostFormValue("next")
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) != 1 {
		h.showLogin(w, r, http.StatusForbidden, next, user, "The login form expired. Please try again.")
		return
	}
	s, err := h.opts.Sessions.Login(r.Context(), user, password, h.clientAddr(r))
	var limited *auth.RateLimitError
	switch {
	case errors.As(err, &limited):
		secs := int(math.Ceil(limited.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		h.showLogin(w, r, http.StatusTooManyRequests, next, user,
			fmt.Sprintf("Too many failed attempts. Try again in %s.", limited.RetryAfter.Round(time.Second)))
		return
	case errors.Is(err, auth.ErrUnauthenticated):
		h.showLogin(w, r, http.StatusUnauthorized, next, user, "Wrong user name or password.")
		return
	case err != nil:
		h.uiInternal(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/login", MaxAge: -1})
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.ID, Path: "/", Expires: s.ExpiresAt,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

// logout ends the session (the page wrapper checked its CSRF token).
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := h.opts.Sessions.Logout(r.Context(), c.Value); err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
			h.uiInternal(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// secure reports whether cookies get the Secure attribute: when lookout is
// served over TLS, directly or (per --external-url) behind a proxy.
func (h *Handler) secure(r *http.Request) bool {
	return r.TLS != nil || h.opts.SecureCookies
}
