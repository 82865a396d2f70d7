package alerts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/matcher/compat"
	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/silence"
	"github.com/prometheus/alertmanager/silence/silencepb"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Silences of the embedded Alertmanager, for lookout's UI: the same store
// its API v2 serves (/alertmanager/api/v2/silences), so a silence made in
// one shows in the other and in amtool.

// Silence is one silence of the embedded Alertmanager.
type Silence struct {
	ID string
	// MatcherSets are the silence's matchers in Alertmanager's syntax
	// (name="value", name=~"regex", name!="v", name!~"regex"): it mutes an
	// alert that every matcher of one set matches. Silences made through
	// lookout or API v2 have one set.
	MatcherSets [][]string
	// State is "active", "pending" (starts later) or "expired".
	State                       string
	StartsAt, EndsAt, UpdatedAt time.Time
	CreatedBy, Comment          string
}

// SilenceInput is a silence to create.
type SilenceInput struct {
	// Matchers are Alertmanager matchers, separated by commas or new lines,
	// with or without braces: alertname="HighErrorRate", service=~"api|web",
	// env!="dev". Label names with dots (service.name) work as they are.
	Matchers string
	// StartsAt is when it starts; zero means now.
	StartsAt time.Time
	EndsAt   time.Time
	// CreatedBy is who made it: the caller's signed-in user, never a name
	// the user typed.
	CreatedBy string
	Comment   string
}

// InputError is a silence that cannot be made as asked; its message says
// what to change.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ErrSilenceNotFound is the error for a silence id the store does not hold.
var ErrSilenceNotFound = errors.New("silence not found")

// Silences returns the active and pending silences: active ones first, the
// soonest to end first, then pending ones by start.
func (m *Manager) Silences(ctx context.Context) ([]Silence, error) {
	sils, _, err := m.am.silences.Query(ctx, silence.QState(silence.SilenceStateActive, silence.SilenceStatePending))
	if err != nil {
		return nil, fmt.Errorf("query silences: %w", err)
	}
	out := make([]Silence, 0, len(sils))
	for _, s := range sils {
		out = append(out, silenceView(s))
	}
	slices.SortFunc(out, func(a, b Silence) int {
		if a.State != b.State {
			return cmp.Compare(a.State, b.State) // "active" < "pending"
		}
		if a.State == string(silence.SilenceStatePending) {
			return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.ID, b.ID))
		}
		return cmp.Or(a.EndsAt.Compare(b.EndsAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// CreateSilence makes a silence and returns its id. Bad matchers, a missing
// comment or creator, or an end that is not after the start (and after
// now) are an *InputError.
func (m *Manager) CreateSilence(ctx context.Context, in SilenceInput) (string, error) {
	sets, err := parseSilenceMatchers(in.Matchers)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(in.CreatedBy) == "" {
		return "", &InputError{errors.New("a silence needs its creator")}
	}
	if strings.TrimSpace(in.Comment) == "" {
		return "", &InputError{errors.New("say why in the comment: whoever sees the silence next needs to know")}
	}
	if !utf8.ValidString(in.Comment) || !utf8.ValidString(in.CreatedBy) {
		return "", &InputError{errors.New("the comment is not valid UTF-8")}
	}
	now := time.Now()
	start := in.StartsAt
	if start.IsZero() || start.Before(now) {
		start = now
	}
	if !in.EndsAt.After(start) {
		return "", &InputError{fmt.Errorf("the silence must end after it starts (%s); it ends %s",
			start.UTC().Format(time.RFC3339), in.EndsAt.UTC().Format(time.RFC3339))}
	}
	set := &silencepb.MatcherSet{}
	for _, mt := range sets {
		pm := &silencepb.Matcher{Name: mt.Name, Pattern: mt.Value}
		switch mt.Type {
		case amlabels.MatchEqual:
			pm.Type = silencepb.Matcher_EQUAL
		case amlabels.MatchNotEqual:
			pm.Type = silencepb.Matcher_NOT_EQUAL
		case amlabels.MatchRegexp:
			pm.Type = silencepb.Matcher_REGEXP
		case amlabels.MatchNotRegexp:
			pm.Type = silencepb.Matcher_NOT_REGEXP
		}
		set.Matchers = append(set.Matchers, pm)
	}
	sil := &silencepb.Silence{
		MatcherSets: []*silencepb.MatcherSet{set},
		StartsAt:    timestamppb.New(start),
		EndsAt:      timestamppb.New(in.EndsAt),
		CreatedBy:   in.CreatedBy,
		Comment:     in.Comment,
		Annotations: map[string]string{},
	}
	if err := m.am.silences.Set(ctx, sil); err != nil {
		return "", fmt.Errorf("create silence: %w", err)
	}
	m.log.Info("silence_created", "id", sil.Id, "created_by", in.CreatedBy, "ends_at", in.EndsAt)
	return sil.Id, nil
}

// ExpireSilence ends a silence now; one already expired stays as it is.
// An unknown id is ErrSilenceNotFound.
func (m *Manager) ExpireSilence(ctx context.Context, id string) error {
	err := m.am.silences.Expire(ctx, id)
	if errors.Is(err, silence.ErrNotFound) {
		return ErrSilenceNotFound
	}
	if err != nil {
		return fmt.Errorf("expire silence %s: %w", id, err)
	}
	m.log.Info("silence_expired", "id", id)
	return nil
}

// parseSilenceMatchers parses matchers with Alertmanager's own parser, as its
// API and amtool do: separated by commas or new lines, with or without
// braces. At least one must not match the empty string, or the silence
// would mute every alert. Problems are an *InputError naming the line.
func parseSilenceMatchers(s string) ([]*amlabels.Matcher, error) {
	if !utf8.ValidString(s) {
		return nil, &InputError{errors.New("the matchers are not valid UTF-8")}
	}
	var out []*amlabels.Matcher
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ms, err := compat.Matchers(line, "api")
		if err != nil {
			if len(lines) > 1 {
				return nil, &InputError{fmt.Errorf("matchers, line %d: %q: %w", i+1, line, err)}
			}
			return nil, &InputError{fmt.Errorf("matchers: %q: %w", line, err)}
		}
		out = append(out, ms...)
	}
	if len(out) == 0 {
		return nil, &InputError{errors.New(`give at least one matcher, such as alertname="HighErrorRate"`)}
	}
	if !slices.ContainsFunc(out, func(m *amlabels.Matcher) bool { return !m.Matches("") }) {
		return nil, &InputError{errors.New(`at least one matcher must not match the empty string (such as name="value"); these would mute every alert`)}
	}
	return out, nil
}

// SilenceMatchers are the matchers that select exactly the alert with
// labels ls, one per line, in the syntax parseSilenceMatchers reads: what
// a silence made from that alert starts with.
func SilenceMatchers(ls labels.Labels) string {
	var b strings.Builder
	ls.Range(func(l labels.Label) {
		m, err := amlabels.NewMatcher(amlabels.MatchEqual, l.Name, l.Value)
		if err != nil {
			return // only regular expressions fail
		}
		b.WriteString(m.String())
		b.WriteByte('\n')
	})
	return b.String()
}

func silenceView(s *silencepb.Silence) Silence {
	v := Silence{
		ID:        s.Id,
		StartsAt:  s.StartsAt.AsTime(),
		EndsAt:    s.EndsAt.AsTime(),
		UpdatedAt: s.UpdatedAt.AsTime(),
		CreatedBy: s.CreatedBy,
		Comment:   s.Comment,
	}
	v.State = string(silence.CurrentState(v.StartsAt, v.EndsAt))
	sets := s.MatcherSets
	if len(sets) == 0 && len(s.Matchers) > 0 {
		sets = []*silencepb.MatcherSet{{Matchers: s.Matchers}}
	}
	for _, set := range sets {
		var ms []string
		for _, pm := range set.Matchers {
			t := amlabels.MatchEqual
			switch pm.Type {
			case silencepb.Matcher_NOT_EQUAL:
				t = amlabels.MatchNotEqual
			case silencepb.Matcher_REGEXP:
				t = amlabels.MatchRegexp
			case silencepb.Matcher_NOT_REGEXP:
				t = amlabels.MatchNotRegexp
			}
			// String only, so no regular expression is compiled.
			ms = append(ms, (&amlabels.Matcher{Type: t, Name: pm.Name, Value: pm.Pattern}).String())
		}
		v.MatcherSets = append(v.MatcherSets, ms)
	}
	return v
}
