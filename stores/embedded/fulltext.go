package embedded

import (
	"context"
	"html"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// BM25 parameters (Lucene's and OpenSearch's defaults) and the shape of the
// highlights, close to OpenSearch's defaults (fragments of about 100
// characters, at most 5 per hit).
const (
	fullTextK1            = 1.2
	fullTextB             = 0.75
	fullTextFragmentSize  = 100
	fullTextFragmentLead  = 30
	fullTextMaxFragments  = 5
	fullTextMaxQueryTerms = 256
)

// FullTextBackend keeps every organisation's documents in process, with an
// inverted index per org and BM25 ranking over the org's own statistics.
//
// Text is analysed the same way when indexed and when searched: lowercased and
// split on every character that is neither a letter nor a digit, so a query
// is plain words. Quotes, operators, wildcards or JSON in a query are just
// separators; no query syntax exists to reach another org's documents.
// Title and body are scored as separate fields and a document's score is the
// better of the two (OpenSearch's best_fields multi_match).
type FullTextBackend struct {
	now Clock

	mu   sync.RWMutex
	orgs map[uuid.UUID]*fullTextIndex
}

type fullTextIndex struct {
	docs map[string]*fullTextDoc
	// ranks is the stores.VersionRank of the last versioned write of a key,
	// a tombstone's included (a key in ranks but not in docs): what a
	// versioned write must be newer than.
	ranks    map[string]int64
	postings map[string]map[string]struct{} // term -> ids of documents having it in a field
	title    fullTextFieldStats
	body     fullTextFieldStats
}

type fullTextFieldStats struct {
	totalLen int
	df       map[string]int
}

type fullTextDoc struct {
	doc      stores.Document
	titleTF  map[string]int
	titleLen int
	bodyTF   map[string]int
	bodyLen  int
}

// NewFullTextBackend returns an empty full-text backend reading time from now
// (time.Now when nil); a document indexed without CreatedAt gets the current
// time.
func NewFullTextBackend(now Clock) *FullTextBackend {
	if now == nil {
		now = time.Now
	}
	return &FullTextBackend{now: now, orgs: map[uuid.UUID]*fullTextIndex{}}
}

// FullText returns the store bound to t's organisation.
func (b *FullTextBackend) FullText(t stores.Tenant) stores.FullTextStore {
	return &fullTextStore{b: b, tenant: t}
}

type fullTextStore struct {
	b      *FullTextBackend
	tenant stores.Tenant
}

func (s *fullTextStore) begin(ctx context.Context) error {
	return begin(ctx, s.tenant)
}

// fullTextToken is a term and where it sits in the analysed text (bytes).
type fullTextToken struct {
	term       string
	start, end int
}

func fullTextIsWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// fullTextTokens splits text into lowercased runs of letters and digits.
func fullTextTokens(text string) []fullTextToken {
	var out []fullTextToken
	start := -1
	for i, r := range text {
		if fullTextIsWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, fullTextToken{strings.ToLower(text[start:i]), start, i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, fullTextToken{strings.ToLower(text[start:]), start, len(text)})
	}
	return out
}

func fullTextTermFreqs(text string) (map[string]int, int) {
	toks := fullTextTokens(text)
	tf := make(map[string]int, len(toks))
	for _, t := range toks {
		tf[t.term]++
	}
	return tf, len(toks)
}

func fullTextCopyDoc(d stores.Document) stores.Document {
	if d.MemoryID != nil {
		m := *d.MemoryID
		d.MemoryID = &m
	}
	d.Tags = append([]string{}, d.Tags...)
	return d
}

// fullTextKey is where a document is kept in its org's index: under its id
// in the shared space, or beside its owner in a private one (ids hold no
// NUL, so keys of different spaces never meet).
func fullTextKey(id string, owner uuid.UUID) string {
	if owner == uuid.Nil {
		return id
	}
	return id + "\x00" + owner.String()
}

func (idx *fullTextIndex) remove(id string) bool {
	d := idx.docs[id]
	if d == nil {
		return false
	}
	delete(idx.docs, id)
	idx.title.totalLen -= d.titleLen
	idx.body.totalLen -= d.bodyLen
	for term := range d.titleTF {
		fullTextDecr(idx.title.df, term)
	}
	for term := range d.bodyTF {
		fullTextDecr(idx.body.df, term)
	}
	for _, tf := range []map[string]int{d.titleTF, d.bodyTF} {
		for term := range tf {
			if ids := idx.postings[term]; ids != nil {
				delete(ids, id)
				if len(ids) == 0 {
					delete(idx.postings, term)
				}
			}
		}
	}
	return true
}

func fullTextDecr(df map[string]int, term string) {
	if df[term] <= 1 {
		delete(df, term)
		return
	}
	df[term]--
}

func (idx *fullTextIndex) add(d *fullTextDoc) {
	id := fullTextKey(d.doc.ID, stores.PrivateOwner(d.doc.Visibility, d.doc.AuthorID))
	idx.docs[id] = d
	idx.title.totalLen += d.titleLen
	idx.body.totalLen += d.bodyLen
	for term := range d.titleTF {
		idx.title.df[term]++
	}
	for term := range d.bodyTF {
		idx.body.df[term]++
	}
	for _, tf := range []map[string]int{d.titleTF, d.bodyTF} {
		for term := range tf {
			ids := idx.postings[term]
			if ids == nil {
				ids = map[string]struct{}{}
				idx.postings[term] = ids
			}
			ids[id] = struct{}{}
		}
	}
}

func (s *fullTextStore) IndexDocuments(ctx context.Context, docs []stores.Document) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := stores.CheckDocuments(docs, s.tenant.UserID); err != nil {
		return err
	}
	if len(docs) == 0 {
		return nil
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	now := s.b.now()
	idx := s.b.orgs[s.tenant.OrgID]
	if idx == nil {
		idx = &fullTextIndex{
			docs:     map[string]*fullTextDoc{},
			ranks:    map[string]int64{},
			postings: map[string]map[string]struct{}{},
			title:    fullTextFieldStats{df: map[string]int{}},
			body:     fullTextFieldStats{df: map[string]int{}},
		}
		s.b.orgs[s.tenant.OrgID] = idx
	}
	for _, d := range docs {
		stored := fullTextCopyDoc(d)
		if stored.CreatedAt.IsZero() {
			stored.CreatedAt = now
		}
		fd := &fullTextDoc{doc: stored}
		fd.titleTF, fd.titleLen = fullTextTermFreqs(d.Title)
		fd.bodyTF, fd.bodyLen = fullTextTermFreqs(d.Body)
		if d.Version == 0 {
			// An unversioned write replaces whatever is there, and forgets
			// the versions of the keys it touches.
			for _, key := range []string{fullTextKey(d.ID, uuid.Nil), fullTextKey(d.ID, s.tenant.UserID)} {
				idx.remove(key)
				delete(idx.ranks, key)
			}
			idx.add(fd)
			continue
		}
		// A versioned write applies to each of the document's two keys only
		// over an older rank: the document (or its tombstone) under its
		// own key, a tombstone under the other one (stores.TombstonesOtherSpace).
		owner := stores.PrivateOwner(d.Visibility, d.AuthorID)
		other := s.tenant.UserID
		if owner != uuid.Nil {
			other = uuid.Nil
		}
		if key, rank := fullTextKey(d.ID, owner), stores.VersionRank(d.Version, d.Deleted); idx.newer(key, rank) {
			idx.remove(key)
			idx.ranks[key] = rank
			if !d.Deleted {
				idx.add(fd)
			}
		}
		if key, rank := fullTextKey(d.ID, other), stores.VersionRank(d.Version, true); stores.TombstonesOtherSpace(d.Version, d.Deleted) && idx.newer(key, rank) {
			idx.remove(key)
			idx.ranks[key] = rank
		}
	}
	return nil
}

// newer reports whether a versioned write of rank may replace what key holds.
func (idx *fullTextIndex) newer(key string, rank int64) bool {
	stored, ok := idx.ranks[key]
	return !ok || stored < rank
}

func (s *fullTextStore) DeleteDocuments(ctx context.Context, ids []string) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := stores.CheckDocumentIDs(ids); err != nil {
		return 0, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	idx := s.b.orgs[s.tenant.OrgID]
	if idx == nil {
		return 0, nil
	}
	n := 0
	for _, id := range ids {
		shared, own := idx.remove(fullTextKey(id, uuid.Nil)), idx.remove(fullTextKey(id, s.tenant.UserID))
		if shared || own {
			n++
		}
		delete(idx.ranks, fullTextKey(id, uuid.Nil))
		delete(idx.ranks, fullTextKey(id, s.tenant.UserID))
	}
	if len(idx.docs) == 0 && len(idx.ranks) == 0 {
		delete(s.b.orgs, s.tenant.OrgID)
	}
	return n, nil
}

// bm25 scores one field of a document for the query terms.
func fullTextBM25(terms []string, tf map[string]int, length int, stats fullTextFieldStats, docs int) float64 {
	if length == 0 || docs == 0 {
		return 0
	}
	avg := float64(stats.totalLen) / float64(docs)
	var score float64
	for _, term := range terms {
		f := float64(tf[term])
		if f == 0 {
			continue
		}
		n := float64(stats.df[term])
		idf := math.Log(1 + (float64(docs)-n+0.5)/(n+0.5))
		score += idf * f * (fullTextK1 + 1) / (f + fullTextK1*(1-fullTextB+fullTextB*float64(length)/avg))
	}
	return score
}

// fullTextQueryTerms returns the distinct terms of a query text, at most
// fullTextMaxQueryTerms, in order, and the same terms as a set.
func fullTextQueryTerms(text string) ([]string, map[string]bool) {
	seen := map[string]bool{}
	var terms []string
	for _, t := range fullTextTokens(text) {
		if !seen[t.term] && len(terms) < fullTextMaxQueryTerms {
			seen[t.term] = true
			terms = append(terms, t.term)
		}
	}
	return terms, seen
}

// matching returns the documents holding at least one of terms and
// carrying every one of tags, in no order. The caller holds the read lock.
// matching returns the documents holding a term and every tag that user
// may see: a PRIVATE document only when user is its author.
func (idx *fullTextIndex) matching(terms, tags []string, user uuid.UUID) []*fullTextDoc {
	candidates := map[string]bool{}
	for _, term := range terms {
		for id := range idx.postings[term] {
			candidates[id] = true
		}
	}
	var out []*fullTextDoc
	for id := range candidates {
		if d := idx.docs[id]; fullTextHasTags(d.doc.Tags, tags) && d.doc.Visibility.VisibleTo(d.doc.AuthorID, user) {
			out = append(out, d)
		}
	}
	return out
}

func (s *fullTextStore) CountSearchHits(ctx context.Context, q stores.SearchQuery) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := stores.CheckSearchQuery(q); err != nil {
		return 0, err
	}
	terms, _ := fullTextQueryTerms(q.Text)
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	idx := s.b.orgs[s.tenant.OrgID]
	if idx == nil {
		return 0, nil
	}
	return len(idx.matching(terms, q.Tags, s.tenant.UserID)), nil
}

func (s *fullTextStore) Search(ctx context.Context, q stores.SearchQuery, p stores.PageArgs) (stores.Page[stores.SearchHit], error) {
	var none stores.Page[stores.SearchHit]
	if err := s.begin(ctx); err != nil {
		return none, err
	}
	after, err := stores.CheckSearchPage(q, p)
	if err != nil {
		return none, err
	}
	terms, seen := fullTextQueryTerms(q.Text)

	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	page := stores.Page[stores.SearchHit]{Items: []stores.SearchHit{}, Cursors: []string{}}
	idx := s.b.orgs[s.tenant.OrgID]
	if idx == nil || len(terms) == 0 {
		return page, nil
	}
	type scored struct {
		d     *fullTextDoc
		score float64
	}
	n := len(idx.docs)
	var found []scored
	for _, d := range idx.matching(terms, q.Tags, s.tenant.UserID) {
		id := d.doc.ID
		score := math.Max(
			fullTextBM25(terms, d.titleTF, d.titleLen, idx.title, n),
			fullTextBM25(terms, d.bodyTF, d.bodyLen, idx.body, n),
		)
		if after != nil && (score > after.Score || (score == after.Score && id <= after.ID)) {
			continue
		}
		found = append(found, scored{d, score})
	}
	sort.Slice(found, func(i, j int) bool {
		if found[i].score != found[j].score {
			return found[i].score > found[j].score
		}
		return found[i].d.doc.ID < found[j].d.doc.ID
	})
	if len(found) > p.First {
		found = found[:p.First]
		page.HasNextPage = true
	}
	for _, f := range found {
		page.Items = append(page.Items, stores.SearchHit{
			Document:   fullTextCopyDoc(f.d.doc),
			Score:      f.score,
			Highlights: fullTextHighlights(f.d.doc.Body, seen),
		})
		page.Cursors = append(page.Cursors, stores.SearchCursor{Score: f.score, ID: f.d.doc.ID}.Encode())
	}
	return page, nil
}

func fullTextHasTags(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// fullTextHighlights cuts fragments of body around the tokens whose term is
// in terms, wraps each match in <em>...</em> and HTML-escapes the rest, so
// the fragments are safe to render as HTML. Fragments start a little before
// their first match, at a word boundary, run about fullTextFragmentSize
// bytes, and never split a match or a character.
func fullTextHighlights(body string, terms map[string]bool) []string {
	out := []string{}
	toks := fullTextTokens(body)
	var matches []fullTextToken
	for _, t := range toks {
		if terms[t.term] {
			matches = append(matches, t)
		}
	}
	for i := 0; i < len(matches) && len(out) < fullTextMaxFragments; {
		first := matches[i]
		start := fullTextFragmentStart(toks, first.start)
		limit := start + fullTextFragmentSize
		// Take every following match that ends within the fragment.
		j := i + 1
		for j < len(matches) && matches[j].end <= limit {
			j++
		}
		end := fullTextFragmentEnd(body, toks, max(limit, matches[j-1].end))
		var sb strings.Builder
		pos := start
		for _, m := range matches[i:j] {
			sb.WriteString(html.EscapeString(body[pos:m.start]))
			sb.WriteString("<em>")
			sb.WriteString(html.EscapeString(body[m.start:m.end]))
			sb.WriteString("</em>")
			pos = m.end
		}
		sb.WriteString(html.EscapeString(body[pos:end]))
		out = append(out, strings.TrimSpace(sb.String()))
		i = j
		// A later match that the fragment's tail already showed starts the
		// next fragment after it.
		for i < len(matches) && matches[i].start < end {
			i++
		}
	}
	return out
}

// fullTextFragmentStart returns where a fragment showing a match at matchStart
// begins: the start of the body when the match is near it, otherwise the start
// of the earliest token that lies at most fullTextFragmentLead bytes before the
// match.
func fullTextFragmentStart(toks []fullTextToken, matchStart int) int {
	if matchStart <= fullTextFragmentLead {
		return 0
	}
	start := matchStart
	for k := len(toks) - 1; k >= 0; k-- {
		t := toks[k]
		if t.start >= matchStart {
			continue
		}
		if matchStart-t.start > fullTextFragmentLead {
			break
		}
		start = t.start
	}
	return start
}

// fullTextFragmentEnd returns where a fragment that should end near limit
// ends: after the last token that ends by limit, and never inside a token or
// a character.
func fullTextFragmentEnd(body string, toks []fullTextToken, limit int) int {
	if limit >= len(body) {
		return len(body)
	}
	end := -1
	for _, t := range toks {
		if t.end > limit {
			break
		}
		end = t.end
	}
	if end < 0 {
		end = limit
		for end < len(body) && !utf8.RuneStart(body[end]) {
			end++
		}
	}
	return end
}
