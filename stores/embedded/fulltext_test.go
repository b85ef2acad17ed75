package embedded

import (
	"strings"
	"testing"

	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/storetest"
)

func TestFullTextContract(t *testing.T) {
	storetest.RunFullText(t, func(t *testing.T) storetest.Harness {
		clock := storetest.NewManualClock()
		return storetest.Harness{
			Backends: stores.Backends{FullText: NewFullTextBackend(clock.Now)},
			Advance:  clock.Advance,
		}
	})
}

func TestFullTextTokens(t *testing.T) {
	var terms []string
	for _, tok := range fullTextTokens(`Héllo, WORLD! org_id:* {"match_all":{}} x2`) {
		terms = append(terms, tok.term)
	}
	if got := strings.Join(terms, " "); got != "héllo world org id match all x2" {
		t.Fatalf("tokens %q", got)
	}
}

func TestFullTextHighlights(t *testing.T) {
	terms := map[string]bool{"fox": true}
	cases := []struct {
		body string
		want []string
	}{
		{"a fox & a <b>dog</b>", []string{"a <em>fox</em> &amp; a &lt;b&gt;dog&lt;/b&gt;"}},
		{"no match here", []string{}},
		{`<b>"fox"</b>`, []string{"&lt;b&gt;&#34;<em>fox</em>&#34;&lt;/b&gt;"}},
		{strings.Repeat("word ", 30) + "Fox " + strings.Repeat("tail ", 40) + "fox.", []string{
			"word word word word word word <em>Fox</em> " + strings.TrimSpace(strings.Repeat("tail ", 13)),
			"tail tail tail tail tail tail <em>fox</em>.",
		}},
	}
	for _, c := range cases {
		got := fullTextHighlights(c.body, terms)
		if got == nil || strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Fatalf("highlights of %q:\n got %q\nwant %q", c.body, got, c.want)
		}
	}
}

func TestFullTextCreatedAtDefaultsToNow(t *testing.T) {
	clock := storetest.NewManualClock()
	st := NewFullTextBackend(clock.Now).FullText(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	storetest.RequireNoError(t, st.IndexDocuments(ctx, []stores.Document{{ID: "d", Body: "hello"}}))
	page, err := st.Search(ctx, stores.SearchQuery{Text: "hello"}, stores.PageArgs{First: 1})
	storetest.RequireNoError(t, err)
	if len(page.Items) != 1 || !page.Items[0].Document.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("hits %+v", page.Items)
	}
}

func TestFullTextTitleMatches(t *testing.T) {
	st := NewFullTextBackend(nil).FullText(storetest.NewTenant())
	ctx := storetest.Ctx(t)
	storetest.RequireNoError(t, st.IndexDocuments(ctx, []stores.Document{{ID: "d", Title: "Routing", Body: "body text"}}))
	page, err := st.Search(ctx, stores.SearchQuery{Text: "routing"}, stores.PageArgs{First: 1})
	storetest.RequireNoError(t, err)
	if len(page.Items) != 1 || page.Items[0].Highlights == nil || len(page.Items[0].Highlights) != 0 {
		t.Fatalf("hits %+v", page.Items)
	}
}
