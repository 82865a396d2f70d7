package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lookout-dev/lookout/auth"
)

// Accounts manages users, API keys and ingest tokens for the settings
// page; *auth.Service satisfies it. Its errors wrap auth.ErrInvalid,
// auth.ErrExists or auth.ErrNotFound for what the caller got wrong, with
// a reason that never carries a secret.
type Accounts interface {
	ListUsers(ctx context.Context) ([]auth.UserInfo, error)
	CreateUser(ctx context.Context, name, password string, role auth.Role) error
	DeleteUser(ctx context.Context, name string) error
	SetRole(ctx context.Context, name string, role auth.Role) error
	SetPassword(ctx context.Context, name, password string) error
	CreateToken(ctx context.Context, name string, role auth.Role) (string, error)
	ListTokens(ctx context.Context) ([]auth.TokenInfo, error)
	RevokeToken(ctx context.Context, name string) error
}

var _ Accounts = (*auth.Service)(nil)

// settingsPageSize bounds each table on the settings page; the rest are a
// "next" link away.
const settingsPageSize = 100

// accountRoles are the roles a user or an API key may have; ingest tokens
// have auth.RoleIngest.
func accountRoles() []string {
	return []string{string(auth.RoleViewer), string(auth.RoleEditor), string(auth.RoleAdmin)}
}

// settingsHome sends a GET of an action's address (a reload after a
// secret was shown, say) to the page rather than a 405.
func (h *Handler) settingsHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

// adminSettings wraps a settings handler (routes in pages.go): admin
// only, and 404 when no Accounts were given. Every action is a POST form
// that redirects back to /settings (Post/Redirect/Get), except creating a
// token, which answers with the page showing the secret once, so it never
// sits in a URL or the history.
func (h *Handler) adminSettings(next http.HandlerFunc) http.Handler {
	return h.page(auth.RoleAdmin, func(w http.ResponseWriter, r *http.Request) {
		if h.opts.Accounts == nil {
			h.renderError(w, r, http.StatusNotFound, "Settings", "Account management is not enabled in this lookout.")
			return
		}
		next(w, r)
	})
}

// settingsView is the settings page's view model.
type settingsView struct {
	Chrome chrome
	// Notice says what the last action did (after its redirect).
	Notice string
	// Error says why the action was refused.
	Error string
	// NewSecret is the token just created, shown this once.
	NewSecret *settingsSecret

	Users                []settingsUserRow
	UsersPage            settingsTablePage
	Keys, Ingest         []settingsTokenRow
	KeysPage, IngestPage settingsTablePage

	// The create forms keep what was typed when an action is refused
	// (never a password).
	UserForm, KeyForm, IngestForm settingsForm
}

type settingsSecret struct {
	Kind   string // "API key" or "ingest token"
	Name   string
	Role   string
	Secret string
	Ingest bool
}

type settingsUserRow struct {
	Name, Role         string
	Created, Updated   settingsTime
	Self               bool
	RoleURL, PassURL   string
	DeleteURL, Confirm string
}

type settingsTokenRow struct {
	Name, Role        string
	Created, LastUsed settingsTime
	RevokeURL         string
	Confirm           string
}

// settingsTime is a time as a table shows it; zero is shown as "never".
type settingsTime struct {
	ISO, Text string
}

func newSettingsTime(t time.Time) settingsTime {
	if t.IsZero() {
		return settingsTime{}
	}
	return settingsTime{ISO: t.UTC().Format(time.RFC3339), Text: t.UTC().Format(layoutMinutesUTC)}
}

type settingsForm struct {
	Name, Role string
}

// settingsTablePage says which rows of a table are shown, with links to the rest.
type settingsTablePage struct {
	First, Last, Total int // 1-based, inclusive
	Prev, Next         string
}

// More reports whether the table has more rows than one page.
func (p settingsTablePage) More() bool { return p.Total > settingsPageSize }

// settingsState is what an action hands the page when it renders it
// directly rather than redirecting.
type settingsState struct {
	Error      string
	NewSecret  *settingsSecret
	UserForm   settingsForm
	KeyForm    settingsForm
	IngestForm settingsForm
}

// settings shows users, API keys and ingest tokens.
func (h *Handler) settings(w http.ResponseWriter, r *http.Request) {
	h.showSettings(w, r, http.StatusOK, settingsState{})
}

// showSettings renders the page (or, for htmx, its content) with status.
func (h *Handler) showSettings(w http.ResponseWriter, r *http.Request, status int, st settingsState) {
	ctx := r.Context()
	users, err := h.opts.Accounts.ListUsers(ctx)
	if err != nil {
		h.uiInternal(w, r, err)
		return
	}
	tokens, err := h.opts.Accounts.ListTokens(ctx)
	if err != nil {
		h.uiInternal(w, r, err)
		return
	}
	q := r.URL.Query()
	me := viewerFrom(ctx).principal
	v := settingsView{
		Chrome:     h.chrome(r, "Settings", "Settings"),
		Error:      st.Error,
		NewSecret:  st.NewSecret,
		UserForm:   st.UserForm,
		KeyForm:    st.KeyForm,
		IngestForm: st.IngestForm,
	}
	v.Chrome.PageCSS = h.assets.url("settings.css")
	v.Chrome.PageJS = h.assets.url("settings.js")
	if r.Method == http.MethodGet {
		v.Notice = settingsNotice(q)
	}

	lo, hi, page := settingsPaginate(len(users), q, "users_from")
	v.UsersPage = page
	for _, u := range users[lo:hi] {
		self := me.Kind == auth.KindUser && me.Name == u.Name
		confirm := "Delete user " + u.Name + "? Their sessions end at once."
		if self {
			confirm = "Delete your own user? You will be signed out."
		}
		base := "/settings/users/" + url.PathEscape(u.Name)
		v.Users = append(v.Users, settingsUserRow{
			Name: u.Name, Role: string(u.Role),
			Created: newSettingsTime(u.CreatedAt), Updated: newSettingsTime(u.UpdatedAt),
			Self:    self,
			RoleURL: base + "/role", PassURL: base + "/password", DeleteURL: base + "/delete",
			Confirm: confirm,
		})
	}

	var keys, ingest []auth.TokenInfo
	for _, t := range tokens {
		if t.Role == auth.RoleIngest {
			ingest = append(ingest, t)
		} else {
			keys = append(keys, t)
		}
	}
	lo, hi, v.KeysPage = settingsPaginate(len(keys), q, "keys_from")
	v.Keys = settingsTokenRows(keys[lo:hi], "API key", "Anything that sends it is refused from then on.")
	lo, hi, v.IngestPage = settingsPaginate(len(ingest), q, "ingest_from")
	v.Ingest = settingsTokenRows(ingest[lo:hi], "ingest token", "Exporters that send it are refused from then on.")

	if v.UserForm.Role == "" {
		v.UserForm.Role = string(auth.RoleViewer)
	}
	if v.KeyForm.Role == "" {
		v.KeyForm.Role = string(auth.RoleViewer)
	}
	h.renderPage(w, r, status, settingsPage(v), settingsContent(v))
}

func settingsTokenRows(ts []auth.TokenInfo, kind, consequence string) []settingsTokenRow {
	rows := make([]settingsTokenRow, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, settingsTokenRow{
			Name: t.Name, Role: string(t.Role),
			Created: newSettingsTime(t.CreatedAt), LastUsed: newSettingsTime(t.LastUsedAt),
			RevokeURL: "/settings/tokens/" + url.PathEscape(t.Name) + "/revoke",
			Confirm:   "Revoke " + kind + " " + t.Name + "? " + consequence,
		})
	}
	return rows
}

// settingsPaginate picks the rows of a table of total rows to show, from the
// 0-based offset in query parameter param, and links to the pages around
// it that keep the rest of the query.
func settingsPaginate(total int, q url.Values, param string) (lo, hi int, p settingsTablePage) {
	lo, _ = strconv.Atoi(q.Get(param))
	lo = max(0, min(lo, total))
	hi = min(total, lo+settingsPageSize)
	p = settingsTablePage{First: lo + 1, Last: hi, Total: total}
	link := func(from int) string {
		q2 := url.Values{}
		for k, vs := range q {
			if k != "done" && k != "name" {
				q2[k] = vs
			}
		}
		q2.Set(param, strconv.Itoa(from))
		return "/settings?" + q2.Encode()
	}
	if lo > 0 {
		p.Prev = link(max(0, lo-settingsPageSize))
	}
	if hi < total {
		p.Next = link(hi)
	}
	return lo, hi, p
}

// settingsNoticeFormat is what the page says after the action done
// redirected to it; %s is the user or token name.
func settingsNoticeFormat(done string) (string, bool) {
	switch done {
	case "user-created":
		return "User %s created.", true
	case "role-changed":
		return "Role of user %s changed.", true
	case "password-reset":
		return "Password of user %s reset; their sessions have ended.", true
	case "user-deleted":
		return "User %s deleted.", true
	case "token-revoked":
		return "Token %s revoked.", true
	}
	return "", false
}

// settingsNotice is the notice named in the URL. The name must look like
// a user or token name, so that a crafted link cannot put other words in
// lookout's mouth.
func settingsNotice(q url.Values) string {
	format, ok := settingsNoticeFormat(q.Get("done"))
	name := q.Get("name")
	if !ok || !plausibleAccountName(name) {
		return ""
	}
	return fmt.Sprintf(format, name)
}

// plausibleAccountName reports whether s could be a user or token name as auth
// accepts them: 1 to 64 of [A-Za-z0-9._@+-].
func plausibleAccountName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._@+-", c) >= 0) {
			return false
		}
	}
	return true
}

// isUserRole reports whether r is a role a user or an API key may have.
func isUserRole(r string) bool {
	return slices.Contains(accountRoles(), r)
}

// settingsDone redirects to the page after a successful action (Post/Redirect/
// Get); the notice is named in the URL, never a secret.
func (h *Handler) settingsDone(w http.ResponseWriter, r *http.Request, notice, name string) {
	http.Redirect(w, r, "/settings?"+url.Values{"done": {notice}, "name": {name}}.Encode(), http.StatusSeeOther)
}

// leaveSettings sends the browser elsewhere after an admin changed their
// own account so that the settings page is no longer theirs to see: htmx
// is told to navigate rather than swap that page into this one.
func leaveSettings(w http.ResponseWriter, r *http.Request, target string) {
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// settingsRefused renders the page with why an action was refused: the reason
// auth gave for bad input (400), or a message for a name that is taken
// (409) or gone (404). Anything else is internal.
func (h *Handler) settingsRefused(w http.ResponseWriter, r *http.Request, err error, what, name string, st settingsState) {
	switch {
	case errors.Is(err, auth.ErrInvalid):
		st.Error = accountInvalidReason(err)
		h.showSettings(w, r, http.StatusBadRequest, st)
	case errors.Is(err, auth.ErrExists):
		st.Error = fmt.Sprintf("There is already a %s called %s; choose another name.", what, name)
		h.showSettings(w, r, http.StatusConflict, st)
	case errors.Is(err, auth.ErrNotFound):
		st.Error = fmt.Sprintf("There is no %s called %s; someone may have removed it already.", what, name)
		h.showSettings(w, r, http.StatusNotFound, st)
	default:
		h.uiInternal(w, r, err)
	}
}

// accountInvalidReason is the reason auth gave for refusing input, without the
// operation and error kind around it: `delete user "a": invalid argument:
// "a" is the last admin; ...` reads `"a" is the last admin; ....`.
func accountInvalidReason(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, auth.ErrInvalid.Error()+": "); ok {
		msg = after
	}
	if msg == "" {
		return "The input was not valid."
	}
	first, size := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(first)) + msg[size:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// logAccountChange records an administrative change, who made it and to what,
// never a password or secret.
func (h *Handler) logAccountChange(r *http.Request, action string, attrs ...any) {
	me := viewerFrom(r.Context()).principal
	h.log.Info("account_change", append([]any{"action", action, "by", me.Name, "by_kind", me.Kind}, attrs...)...)
}

// createUser creates a user from the form's name, password and role.
func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	role := r.PostFormValue("role")
	st := settingsState{UserForm: settingsForm{Name: name, Role: role}}
	if !isUserRole(role) {
		st.UserForm.Role = ""
		st.Error = "Choose the new user's role: viewer, editor or admin."
		h.showSettings(w, r, http.StatusBadRequest, st)
		return
	}
	if err := h.opts.Accounts.CreateUser(r.Context(), name, r.PostFormValue("password"), auth.Role(role)); err != nil {
		h.settingsRefused(w, r, err, "user", name, st)
		return
	}
	h.logAccountChange(r, "user_created", "user", name, "role", role)
	h.settingsDone(w, r, "user-created", name)
}

// setUserRole gives a user the form's role.
func (h *Handler) setUserRole(w http.ResponseWriter, r *http.Request) {
	name, role := r.PathValue("name"), r.PostFormValue("role")
	if !isUserRole(role) {
		h.showSettings(w, r, http.StatusBadRequest, settingsState{Error: "Choose a role: viewer, editor or admin."})
		return
	}
	if err := h.opts.Accounts.SetRole(r.Context(), name, auth.Role(role)); err != nil {
		h.settingsRefused(w, r, err, "user", name, settingsState{})
		return
	}
	h.logAccountChange(r, "role_changed", "user", name, "role", role)
	if me := viewerFrom(r.Context()).principal; me.Kind == auth.KindUser && me.Name == name && role != string(auth.RoleAdmin) {
		leaveSettings(w, r, "/") // no longer an admin: this page is not theirs now
		return
	}
	h.settingsDone(w, r, "role-changed", name)
}

// resetPassword sets a user's password to the form's and ends their
// sessions.
func (h *Handler) resetPassword(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := h.opts.Accounts.SetPassword(r.Context(), name, r.PostFormValue("password")); err != nil {
		h.settingsRefused(w, r, err, "user", name, settingsState{})
		return
	}
	h.logAccountChange(r, "password_reset", "user", name)
	if me := viewerFrom(r.Context()).principal; me.Kind == auth.KindUser && me.Name == name {
		leaveSettings(w, r, "/login") // that ended this session too
		return
	}
	h.settingsDone(w, r, "password-reset", name)
}

// deleteUser deletes a user; auth keeps the last admin.
func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := h.opts.Accounts.DeleteUser(r.Context(), name); err != nil {
		h.settingsRefused(w, r, err, "user", name, settingsState{})
		return
	}
	h.logAccountChange(r, "user_deleted", "user", name)
	if me := viewerFrom(r.Context()).principal; me.Kind == auth.KindUser && me.Name == name {
		leaveSettings(w, r, "/login")
		return
	}
	h.settingsDone(w, r, "user-deleted", name)
}

// createToken creates an API key (role viewer, editor or admin) or an
// ingest token (role ingest) and answers with the page showing its secret
// this once: no redirect, so the secret is in no URL and no history
// entry, and the page is not stored (h.page sets Cache-Control: no-store).
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	role := r.PostFormValue("role")
	kind := "API key"
	st := settingsState{KeyForm: settingsForm{Name: name, Role: role}}
	if role == string(auth.RoleIngest) {
		kind = "ingest token"
		st = settingsState{IngestForm: settingsForm{Name: name, Role: role}}
	} else if !isUserRole(role) {
		st.KeyForm.Role = ""
		st.Error = "Choose the API key's role: viewer, editor or admin."
		h.showSettings(w, r, http.StatusBadRequest, st)
		return
	}
	secret, err := h.opts.Accounts.CreateToken(r.Context(), name, auth.Role(role))
	if err != nil {
		h.settingsRefused(w, r, err, "token", name, st)
		return
	}
	h.logAccountChange(r, "token_created", "token", name, "role", role)
	h.showSettings(w, r, http.StatusOK, settingsState{NewSecret: &settingsSecret{
		Kind: kind, Name: name, Role: role, Secret: secret, Ingest: role == string(auth.RoleIngest),
	}})
}

// revokeToken deletes an API key or ingest token.
func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := h.opts.Accounts.RevokeToken(r.Context(), name); err != nil {
		h.settingsRefused(w, r, err, "token", name, settingsState{})
		return
	}
	h.logAccountChange(r, "token_revoked", "token", name)
	h.settingsDone(w, r, "token-revoked", name)
}
