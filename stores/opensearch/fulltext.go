package opensearch

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/google/uuid"
)

// searchSort ranks by relevance, ties by document id; its values are what a
// cursor carries to search_after.
const searchSort = `[{"_score": {"order": "desc"}}, {"doc_id": {"order": "asc"}}]`

// searchHighlight asks for fragments of the body with matches wrapped in
// <em> and, through the html encoder, everything else HTML-escaped. The
// fragment size and count are OpenSearch's defaults, as stores/embedded's.
const searchHighlight = `{
  "encoder": "html",
  "pre_tags": ["<em>"],
  "post_tags": ["</em>"],
  "fields": {"body": {"type": "unified", "fragment_size": 100, "number_of_fragments": 5, "no_match_size": 0}}
}`

// searchFields are scored separately; a document scores as its better field.
var searchFields = []string{"title", "body"}

// source is a document as stored in OpenSearch.
type source struct {
	OrgID    string `json:"org_id"`
	DocID    string `json:"doc_id"`
	MemoryID string `json:"memory_id,omitempty"`
	AuthorID string `json:"author_id,omitempty"`
	// Visibility is PRIVATE or ORG; documents that are not memories, and
	// those written before visibilities existed, have none and count as ORG.
	Visibility string   `json:"visibility,omitempty"`
	Title      string   `json:"title"`
	Body       string   `json:"body"`
	Tags       []string `json:"tags"`
	CreatedAt  string   `json:"created_at"`
	// Version is the memory version a versioned write carried (its
	// external version is stores.VersionRank of it); Deleted marks a
	// tombstone, which every search, count and statistic filters out.
	Version int64 `json:"version,omitempty"`
	Deleted bool  `json:"deleted,omitempty"`
}

// searchRequest is the body of a search. The query text travels as a JSON
// string inside multi_match, so it is only ever analysed as words.
type searchRequest struct {
	Size           int             `json:"size"`
	Query          searchQuery     `json:"query"`
	Sort           json.RawMessage `json:"sort"`
	SearchAfter    []any           `json:"search_after,omitempty"`
	Highlight      json.RawMessage `json:"highlight"`
	TrackTotalHits bool            `json:"track_total_hits"`
}

// countRequest is the body of a _count.
type countRequest struct {
	Query searchQuery `json:"query"`
}

type searchQuery struct {
	Bool struct {
		Must               *multiMatchQuery  `json:"must,omitempty"`
		Should             []multiMatchQuery `json:"should,omitempty"`
		MinimumShouldMatch int               `json:"minimum_should_match,omitempty"`
		Filter             []any             `json:"filter"`
		MustNot            []any             `json:"must_not,omitempty"`
	} `json:"bool"`
}

type multiMatchQuery struct {
	MultiMatch struct {
		Query    string   `json:"query"`
		Fields   []string `json:"fields"`
		Type     string   `json:"type"`
		Operator string   `json:"operator"`
		Boost    float64  `json:"boost,omitempty"`
	} `json:"multi_match"`
}

func newMultiMatch(text string, boost float64) multiMatchQuery {
	var q multiMatchQuery
	mm := &q.MultiMatch
	mm.Query, mm.Fields, mm.Type, mm.Operator, mm.Boost = text, searchFields, "best_fields", "or", boost
	return q
}

// statsRequest asks for the tenant's own BM25 statistics of a search: how
// many documents it searches (N, the total) and how many of them hold each
// word (one filter per word). The alias and the org filter keep every figure
// within the tenant.
type statsRequest struct {
	Size           int         `json:"size"`
	TrackTotalHits bool        `json:"track_total_hits"`
	Query          searchQuery `json:"query"`
	Aggs           struct {
		DF struct {
			Filters struct {
				Filters map[string]multiMatchQuery `json:"filters"`
			} `json:"filters"`
		} `json:"df"`
	} `json:"aggs"`
}

type statsResponse struct {
	Hits struct {
		Total struct {
			Value int `json:"value"`
		} `json:"total"`
	} `json:"hits"`
	Aggregations struct {
		DF struct {
			Buckets map[string]struct {
				DocCount int `json:"doc_count"`
			} `json:"buckets"`
		} `json:"df"`
	} `json:"aggregations"`
}

type searchResponse struct {
	Hits struct {
		Hits []struct {
			Score     float64             `json:"_score"`
			Source    source              `json:"_source"`
			Highlight map[string][]string `json:"highlight"`
		} `json:"hits"`
	} `json:"hits"`
}

type bulkResponse struct {
	Errors bool                          `json:"errors"`
	Items  []map[string]bulkItemResponse `json:"items"`
}

type bulkItemResponse struct {
	Status int             `json:"status"`
	Result string          `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// superseded reports whether the item is a versioned write that OpenSearch
// refused because the document is already at a version as new or newer:
// what a versioned write is for, so not a failure.
func (item bulkItemResponse) superseded() bool {
	var e struct {
		Type string `json:"type"`
	}
	return item.Status == http.StatusConflict && json.Unmarshal(item.Error, &e) == nil && e.Type == "version_conflict_engine_exception"
}

type fullTextStore struct {
	b      *Backend
	tenant stores.Tenant
}

func (s *fullTextStore) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return stores.Unavailable(backendName, err)
	}
	return s.tenant.Validate()
}

// documentID is the _id of a document: unique per org (two orgs may use the
// same document id) and short whatever the length of the document id. A
// PRIVATE document's _id also names its owner (stores.PrivateOwner), so
// another user of the org writing or deleting the same id reaches another _id.
func documentID(org uuid.UUID, id string, owner uuid.UUID) string {
	sum := sha256.Sum256([]byte(id))
	if owner != uuid.Nil {
		return org.String() + ":" + owner.String() + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return org.String() + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// bulkPath is the bulk endpoint of the tenant's alias. require_alias stops a
// write from auto-creating an index should the alias have vanished, and
// refresh=wait_for makes the write visible to search before it returns.
func (s *fullTextStore) bulkPath() (string, url.Values) {
	return "/" + url.PathEscape(s.b.aliasName(s.tenant.OrgID)) + "/_bulk",
		url.Values{"refresh": {"wait_for"}, "require_alias": {"true"}}
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
	if err := s.b.ensureAlias(ctx, s.tenant.OrgID); err != nil {
		return err
	}
	now := time.Now().UTC()
	var body []byte
	for _, d := range docs {
		created := d.CreatedAt
		if created.IsZero() {
			created = now
		}
		src := source{
			OrgID:     s.tenant.OrgID.String(),
			DocID:     d.ID,
			Title:     d.Title,
			Body:      d.Body,
			Tags:      append([]string{}, d.Tags...),
			CreatedAt: created.UTC().Format(time.RFC3339Nano),
			Version:   d.Version,
		}
		if d.MemoryID != nil {
			src.MemoryID = d.MemoryID.String()
		}
		if d.AuthorID != uuid.Nil {
			src.AuthorID = d.AuthorID.String()
		}
		src.Visibility = string(d.Visibility)
		// The bound user's document of this id in the other space goes:
		// a memory whose visibility changed moves between them.
		owner := stores.PrivateOwner(d.Visibility, d.AuthorID)
		other := s.tenant.UserID
		if owner != uuid.Nil {
			other = uuid.Nil
		}
		var err error
		if d.Version == 0 {
			if body, err = appendBulkLine(body, bulkAction("delete", documentID(s.tenant.OrgID, d.ID, other))); err != nil {
				return err
			}
			if body, err = appendBulkLine(body, bulkAction("index", documentID(s.tenant.OrgID, d.ID, owner))); err != nil {
				return err
			}
			if body, err = appendBulkLine(body, src); err != nil {
				return err
			}
			continue
		}
		// A versioned write leaves a tombstone where it removes a document
		// (the other space, or both for a delete) instead of deleting it:
		// a delete's own record of its version lasts only index.gc_deletes
		// (60 s), after which a late write of an older version would be
		// taken for new. Each write names its external version, so
		// OpenSearch applies it only over an older one.
		tombstone := source{OrgID: src.OrgID, DocID: d.ID, MemoryID: src.MemoryID, Tags: []string{},
			CreatedAt: src.CreatedAt, Version: d.Version, Deleted: true}
		own := src
		if d.Deleted {
			own = tombstone
		}
		type write struct {
			id  string
			src source
		}
		writes := []write{{documentID(s.tenant.OrgID, d.ID, owner), own}}
		if stores.TombstonesOtherSpace(d.Version, d.Deleted) {
			writes = append(writes, write{documentID(s.tenant.OrgID, d.ID, other), tombstone})
		}
		for _, w := range writes {
			if body, err = appendBulkLine(body, versionedAction(w.id, stores.VersionRank(w.src.Version, w.src.Deleted))); err != nil {
				return err
			}
			if body, err = appendBulkLine(body, w.src); err != nil {
				return err
			}
		}
	}
	_, err := s.bulk(ctx, body)
	return err
}

func (s *fullTextStore) DeleteDocuments(ctx context.Context, ids []string) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := stores.CheckDocumentIDs(ids); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// A tenant without an alias has no documents; asking does not create one.
	if exists, err := s.b.findAlias(ctx, s.tenant.OrgID, false); err != nil || !exists {
		return 0, err
	}
	// Each id is deleted in the shared space and in the bound user's own,
	// tombstones included; only live documents count, so they are looked
	// up first (two round trips: two concurrent deletes may both count one).
	var (
		body []byte
		mget struct {
			IDs []string `json:"ids"`
		}
	)
	for _, id := range ids {
		for _, owner := range []uuid.UUID{uuid.Nil, s.tenant.UserID} {
			_id := documentID(s.tenant.OrgID, id, owner)
			mget.IDs = append(mget.IDs, _id)
			var err error
			if body, err = appendBulkLine(body, bulkAction("delete", _id)); err != nil {
				return 0, err
			}
		}
	}
	var found struct {
		Docs []struct {
			Found  bool `json:"found"`
			Source struct {
				Deleted bool `json:"deleted"`
			} `json:"_source"`
		} `json:"docs"`
	}
	path := "/" + url.PathEscape(s.b.aliasName(s.tenant.OrgID)) + "/_mget"
	if err := s.b.call(ctx, http.MethodPost, path, url.Values{"_source_includes": {"deleted"}}, mget, &found); err != nil {
		return 0, unexpected(err)
	}
	if len(found.Docs) != len(mget.IDs) {
		return 0, fmt.Errorf("opensearch: _mget of %d ids answered %d documents", len(mget.IDs), len(found.Docs))
	}
	n := 0
	for i := 0; i+1 < len(found.Docs); i += 2 {
		shared, own := found.Docs[i], found.Docs[i+1]
		if (shared.Found && !shared.Source.Deleted) || (own.Found && !own.Source.Deleted) {
			n++
		}
	}
	if _, err := s.bulk(ctx, body); err != nil {
		return 0, err
	}
	return n, nil
}

// bulkMeta is what an action line of a bulk request says about its
// document. The index and the routing come from the alias the request names.
type bulkMeta struct {
	ID          string `json:"_id"`
	Version     int64  `json:"version,omitempty"`
	VersionType string `json:"version_type,omitempty"`
}

// bulkAction is the action line {"<op>": {"_id": id}}.
func bulkAction(op, id string) map[string]bulkMeta {
	return map[string]bulkMeta{op: {ID: id}}
}

// versionedAction indexes a document at the external version of a rank
// (stores.VersionRank): OpenSearch applies it only when the stored document
// is older (or absent).
func versionedAction(id string, rank int64) map[string]bulkMeta {
	return map[string]bulkMeta{"index": {ID: id, Version: unversionedWrites + rank, VersionType: "external"}}
}

// unversionedWrites offsets external versions above the internal ones of
// documents written without a version (before versions existed, or by a
// client): OpenSearch counts such a document's writes as its version, and
// the first versioned write must still replace it however often it was
// rewritten. Ranks stay far below the rest of the range (stores.MaxDerivedVersion).
const unversionedWrites = 1 << 56

func appendBulkLine(body []byte, v any) ([]byte, error) {
	line, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("opensearch: encoding a bulk line: %w", err)
	}
	return append(append(body, line...), '\n'), nil
}

// bulk sends a bulk request through the tenant's alias and returns its items
// in request order. A failed item fails the call: a delete of a missing
// document is not a failure, nor is a versioned write superseded by a newer one.
func (s *fullTextStore) bulk(ctx context.Context, body []byte) ([]bulkItemResponse, error) {
	path, q := s.bulkPath()
	var resp bulkResponse
	if err := s.b.call(ctx, http.MethodPost, path, q, ndjson(body), &resp); err != nil {
		return nil, unexpected(err)
	}
	items := make([]bulkItemResponse, 0, len(resp.Items))
	for _, m := range resp.Items {
		for _, item := range m {
			if len(item.Error) > 0 && item.Status != http.StatusNotFound && !item.superseded() {
				err := fmt.Errorf("bulk item failed with %d: %s", item.Status, item.Error)
				if item.Status == http.StatusTooManyRequests || item.Status >= 500 {
					return nil, stores.Unavailable(backendName, err)
				}
				return nil, fmt.Errorf("opensearch: %w", err)
			}
			items = append(items, item)
		}
	}
	return items, nil
}

// unexpected turns a server error answer that the caller did not expect into
// an internal error (its text is logged, never shown); other errors pass.
func unexpected(err error) error {
	var se *serverError
	if errors.As(err, &se) {
		return fmt.Errorf("opensearch: %w", se)
	}
	return err
}

func (s *fullTextStore) Search(ctx context.Context, q stores.SearchQuery, p stores.PageArgs) (stores.Page[stores.SearchHit], error) {
	var none stores.Page[stores.SearchHit]
	if err := s.begin(ctx); err != nil {
		return none, err
	}
	start, err := stores.CheckSearchPage(q, p)
	if err != nil {
		return none, err
	}
	var after []any
	if start != nil {
		after = []any{start.Score, start.ID}
	}
	page := stores.Page[stores.SearchHit]{Items: []stores.SearchHit{}, Cursors: []string{}}
	query, ok, err := s.scoredQuery(ctx, q)
	if err != nil || !ok {
		return page, err
	}
	req := searchRequest{
		Size:        p.First + 1,
		Query:       query,
		Sort:        json.RawMessage(searchSort),
		SearchAfter: after,
		Highlight:   json.RawMessage(searchHighlight),
	}
	var resp searchResponse
	found, err := s.searchAlias(ctx, "_search", req, &resp)
	if err != nil {
		return none, err
	}
	if !found {
		return page, nil
	}
	hits := resp.Hits.Hits
	if len(hits) > p.First {
		hits = hits[:p.First]
		page.HasNextPage = true
	}
	for _, h := range hits {
		d, err := h.Source.document()
		if err != nil {
			return none, err
		}
		highlights := h.Highlight["body"]
		if highlights == nil {
			highlights = []string{}
		}
		page.Items = append(page.Items, stores.SearchHit{Document: d, Score: h.Score, Highlights: highlights})
		page.Cursors = append(page.Cursors, stores.SearchCursor{Score: h.Score, ID: d.ID}.Encode())
	}
	return page, nil
}

// CountSearchHits asks _count, which counts every match exactly (a search
// counts only up to track_total_hits), with the query Search runs.
func (s *fullTextStore) CountSearchHits(ctx context.Context, q stores.SearchQuery) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if err := stores.CheckSearchQuery(q); err != nil {
		return 0, err
	}
	var resp struct {
		Count int `json:"count"`
	}
	_, err := s.searchAlias(ctx, "_count", countRequest{Query: s.query(q)}, &resp)
	return resp.Count, err
}

// query is the query of a search: the words as one multi_match, and the
// tags as filters. It selects what a search finds; scoredQuery ranks it.
func (s *fullTextStore) query(q stores.SearchQuery) searchQuery {
	out := s.filtered(q)
	all := newMultiMatch(q.Text, 0)
	out.Bool.Must = &all
	return out
}

// filtered is a query with the search's filters only.
func (s *fullTextStore) filtered(q stores.SearchQuery) searchQuery {
	var out searchQuery
	// The alias already filters on the org; the query says so too, so that a
	// misconfigured alias cannot widen a search.
	out.Bool.Filter = []any{newTermQuery("org_id", s.tenant.OrgID.String()), s.visibleFilter()}
	out.Bool.MustNot = []any{newBoolTermQuery("deleted", true)}
	for _, tag := range q.Tags {
		out.Bool.Filter = append(out.Bool.Filter, newTermQuery("tags", tag))
	}
	return out
}

// queryWords are the distinct words of a search text (split where the
// analyzer's tokenizer always splits: at white space) and how often each
// occurs, in order of first occurrence.
func queryWords(text string) (words []string, counts map[string]int) {
	counts = map[string]int{}
	for _, w := range strings.Fields(text) {
		if counts[w] == 0 {
			words = append(words, w)
		}
		counts[w]++
	}
	return words, counts
}

// scoredQuery is the query of a search scored by BM25 with the tenant's own
// statistics: one clause per word, boosted by the word's inverse document
// frequency among the documents the search covers (the scripted similarity
// multiplies the boost by BM25's term-frequency part). It needs the
// statistics first (stats), which is the price of keeping every other
// tenant's documents out of the scores. ok is false when no word occurs in
// any document: the search finds nothing.
func (s *fullTextStore) scoredQuery(ctx context.Context, q stores.SearchQuery) (out searchQuery, ok bool, err error) {
	words, counts := queryWords(q.Text)
	var req statsRequest
	req.TrackTotalHits = true
	req.Query = s.filtered(q)
	req.Aggs.DF.Filters.Filters = make(map[string]multiMatchQuery, len(words))
	for i, w := range words {
		req.Aggs.DF.Filters.Filters[strconv.Itoa(i)] = newMultiMatch(w, 0)
	}
	var resp statsResponse
	found, err := s.searchAlias(ctx, "_search", req, &resp)
	if err != nil || !found {
		return out, false, err
	}
	out = s.filtered(q)
	n := float64(resp.Hits.Total.Value)
	for i, w := range words {
		df := float64(resp.Aggregations.DF.Buckets[strconv.Itoa(i)].DocCount)
		if df == 0 {
			continue
		}
		idf := math.Log(1 + (n-df+0.5)/(df+0.5))
		out.Bool.Should = append(out.Bool.Should, newMultiMatch(w, idf*float64(counts[w])))
	}
	out.Bool.MinimumShouldMatch = 1
	return out, len(out.Bool.Should) > 0, nil
}

// visibleFilter keeps the documents the bound user may see: every one
// that is not PRIVATE, and the PRIVATE ones the user wrote. It is part of
// every search and count, so no caller can forget it.
func (s *fullTextStore) visibleFilter() any {
	type clauses struct {
		Should             []any `json:"should"`
		MinimumShouldMatch int   `json:"minimum_should_match"`
	}
	notPrivate := map[string]any{"bool": map[string]any{"must_not": []any{newTermQuery("visibility", string(stores.VisibilityPrivate))}}}
	return map[string]clauses{"bool": {
		Should:             []any{notPrivate, newTermQuery("author_id", s.tenant.UserID.String())},
		MinimumShouldMatch: 1,
	}}
}

// searchAlias posts body to an endpoint (_search, _count) of the tenant's
// alias. found is false, with no error, when the tenant never wrote a
// document (its alias does not exist yet): there is nothing to find.
func (s *fullTextStore) searchAlias(ctx context.Context, endpoint string, body, out any) (found bool, err error) {
	path := "/" + url.PathEscape(s.b.aliasName(s.tenant.OrgID)) + "/" + endpoint
	err = s.b.call(ctx, http.MethodPost, path, nil, body, out)
	var se *serverError
	switch {
	case errors.As(err, &se) && se.has("index_not_found_exception"):
		return false, nil
	case errors.As(err, &se) && (se.has("too_many_clauses") || se.has("too_many_nested_clauses")):
		return false, stores.Invalid("search text has too many words")
	case err != nil:
		return false, unexpected(err)
	}
	return true, nil
}

// document turns a stored source back into a Document.
func (src source) document() (stores.Document, error) {
	d := stores.Document{ID: src.DocID, Title: src.Title, Body: src.Body, Tags: src.Tags, Visibility: stores.Visibility(src.Visibility), Version: src.Version}
	if src.AuthorID != "" {
		author, err := uuid.Parse(src.AuthorID)
		if err != nil {
			return stores.Document{}, fmt.Errorf("opensearch: document %q has a malformed author id: %w", src.DocID, err)
		}
		d.AuthorID = author
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	if src.MemoryID != "" {
		m, err := uuid.Parse(src.MemoryID)
		if err != nil {
			return stores.Document{}, fmt.Errorf("opensearch: document %q has a malformed memory id: %w", src.DocID, err)
		}
		d.MemoryID = &m
	}
	created, err := time.Parse(time.RFC3339Nano, src.CreatedAt)
	if err != nil {
		return stores.Document{}, fmt.Errorf("opensearch: document %q has a malformed created_at: %w", src.DocID, err)
	}
	d.CreatedAt = created
	return d, nil
}
