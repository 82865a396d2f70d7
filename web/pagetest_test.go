package web_test

import (
	"html"
	"net/url"
	"regexp"
	"testing"
)

// Helpers the page tests share: reading tags, attributes and links out of
// a page's HTML, and checking that it has nothing the CSP refuses.

var (
	// inlineScriptTag is a script element's opening tag.
	inlineScriptTag = regexp.MustCompile(`(?i)<script[^>]*>`)
	// scriptSrc is the src attribute a script from a file has.
	scriptSrc = regexp.MustCompile(`(?i)\ssrc="[^"]+"`)
	// inlineCode is a style element, a style attribute, an on... handler
	// or a javascript: address in an attribute.
	inlineCode = regexp.MustCompile(`(?i)<style|\s(?:style|on[a-z]+)=|=\s*["']?\s*javascript:`)
)

// noInlineCode fails when page has what the CSP (script-src 'self';
// style-src 'self') would refuse: a script element without src, a style
// element or attribute, an on... handler, or a javascript: address.
func noInlineCode(t *testing.T, page string) {
	t.Helper()
	for _, tag := range inlineScriptTag.FindAllString(page, -1) {
		if !scriptSrc.MatchString(tag) {
			t.Errorf("inline script %s", tag)
		}
	}
	for _, m := range inlineCode.FindAllString(page, -1) {
		t.Errorf("inline style, handler or javascript: address %q", m)
	}
}

// testIDTags are the opening tags of the elements with data-testid id, in
// page order.
func testIDTags(page, id string) []string {
	return regexp.MustCompile(`<[a-z]+\s[^>]*data-testid="`+regexp.QuoteMeta(id)+`"[^>]*>`).FindAllString(page, -1)
}

// testIDTag is the opening tag of the first element with data-testid id,
// or "".
func testIDTag(page, id string) string {
	if tags := testIDTags(page, id); len(tags) > 0 {
		return tags[0]
	}
	return ""
}

// attr is the unescaped value of attribute name in an opening tag; ok is
// false when the tag has no such attribute.
func attr(tag, name string) (value string, ok bool) {
	m := regexp.MustCompile(`\s` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return "", false
	}
	return html.UnescapeString(m[1]), true
}

// linkHref is the unescaped href of the element with data-testid id (the
// href written before it), or "" if there is none.
func linkHref(page, id string) string {
	m := regexp.MustCompile(`href="([^"]*)"[^>]*data-testid="` + regexp.QuoteMeta(id) + `"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// linkURL is linkHref parsed; the test stops when there is no such link.
func linkURL(t *testing.T, page, id string) *url.URL {
	t.Helper()
	href := linkHref(page, id)
	if href == "" {
		t.Fatalf("no link %s in:\n%s", id, page)
	}
	u, err := url.Parse(href)
	if err != nil {
		t.Fatalf("link %s: %v", id, err)
	}
	return u
}
