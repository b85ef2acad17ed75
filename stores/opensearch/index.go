package opensearch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/google/uuid"
)

// textAnalysis is the analyzer of title and body: the standard tokenizer,
// lowercase, ASCII folding (so "café" finds "cafe"), English possessives and
// Porter stemming (so "routers" finds "router"). No stop words: BM25 already
// weighs common words down, and a query of only common words still finds
// something.
const textAnalysis = `{
  "analyzer": {
    "cb_text": {
      "type": "custom",
      "tokenizer": "standard",
      "filter": ["cb_possessive", "lowercase", "asciifolding", "cb_stemmer"]
    }
  },
  "filter": {
    "cb_possessive": {"type": "stemmer", "language": "possessive_english"},
    "cb_stemmer": {"type": "stemmer", "language": "english"}
  }
}`

// tenantSimilarity is BM25's term-frequency part (k1 1.2, b 0.75, against a
// fixed typical length of 64 terms) times the query's boost, and nothing from
// the index's statistics: Lucene takes document frequencies and average
// lengths from the whole shard, which every tenant of the shared index
// shares, so with them one tenant's scores would reveal how often another
// tenant uses a word. The inverse document frequency comes instead with the
// query, as each word's boost, computed from the tenant's own documents
// (fullTextStore.scoredQuery). Scores are then also the same whether a tenant
// lives in the shared index or in one of its own.
const tenantSimilarity = `{
  "cb_tenant_bm25": {
    "type": "scripted",
    "script": {
      "source": "double tf = doc.freq; return query.boost * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * doc.length / 64.0));"
    }
  }
}`

// documentMapping is the strict mapping of a document. Routing is required,
// so a write that bypasses the tenant's alias (which supplies it) fails
// instead of landing on an arbitrary shard. Offsets in the postings let the
// unified highlighter work without re-analysing 64 KiB bodies.
const documentMapping = `{
  "dynamic": "strict",
  "_routing": {"required": true},
  "properties": {
    "org_id": {"type": "keyword"},
    "doc_id": {"type": "keyword"},
    "memory_id": {"type": "keyword"},
    "author_id": {"type": "keyword"},
    "visibility": {"type": "keyword"},
    "title": {"type": "text", "analyzer": "cb_text", "index_options": "offsets", "similarity": "cb_tenant_bm25"},
    "body": {"type": "text", "analyzer": "cb_text", "index_options": "offsets", "similarity": "cb_tenant_bm25"},
    "tags": {"type": "keyword"},
    "created_at": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
    "version": {"type": "long"},
    "deleted": {"type": "boolean"}
  }
}`

// indexDefinition is the body that creates an index of documents.
type indexDefinition struct {
	Settings indexSettings   `json:"settings"`
	Mappings json.RawMessage `json:"mappings"`
}

type indexSettings struct {
	Shards int `json:"number_of_shards"`
	// "0-1": no replica on a single node (the index stays green), one
	// replica as soon as a second node joins.
	Replicas   string          `json:"auto_expand_replicas"`
	Analysis   json.RawMessage `json:"analysis"`
	Similarity json.RawMessage `json:"similarity"`
}

func newIndexDefinition(shards int) indexDefinition {
	return indexDefinition{
		Settings: indexSettings{Shards: shards, Replicas: "0-1", Analysis: json.RawMessage(textAnalysis), Similarity: json.RawMessage(tenantSimilarity)},
		Mappings: json.RawMessage(documentMapping),
	}
}

// visibilityMapping adds the fields added after the first indexes were
// created to such an index: those of private memories (author_id,
// visibility) and of versioned writes (version, deleted). A put-mapping that
// only adds fields is allowed on a live strict index and is a no-op when
// they are already there; documents written before it have none of them:
// they count as ORG, which every document then was, and as unversioned.
const visibilityMapping = `{
  "properties": {
    "author_id": {"type": "keyword"},
    "visibility": {"type": "keyword"},
    "version": {"type": "long"},
    "deleted": {"type": "boolean"}
  }
}`

// ensureIndex creates the shared index unless it exists, and brings an
// existing one's mapping up to date; concurrent callers (gateway replicas
// starting together) all succeed.
func (b *Backend) ensureIndex(ctx context.Context, name string) error {
	if err := b.createIndex(ctx, name, b.opts.Shards); err != nil {
		return err
	}
	return b.putVisibilityMapping(ctx, name)
}

func (b *Backend) putVisibilityMapping(ctx context.Context, index string) error {
	return b.call(ctx, http.MethodPut, "/"+url.PathEscape(index)+"/_mapping", nil, json.RawMessage(visibilityMapping), nil)
}

func (b *Backend) createIndex(ctx context.Context, name string, shards int) error {
	err := b.call(ctx, http.MethodPut, "/"+url.PathEscape(name), nil, newIndexDefinition(shards), nil)
	var se *serverError
	if errors.As(err, &se) && se.has("resource_already_exists_exception") {
		return nil
	}
	return err
}

// aliasName is the tenant's alias: derived from the org UUID only, never
// from anything a client sends.
func (b *Backend) aliasName(org uuid.UUID) string {
	return b.opts.AliasPrefix + org.String()
}

// tenantAlias is the definition of a tenant's alias: only the tenant's
// documents are visible through it, and writes through it are routed to the
// tenant's shard.
type tenantAlias struct {
	Filter  termQuery `json:"filter"`
	Routing string    `json:"routing"`
}

func newTenantAlias(org uuid.UUID) tenantAlias {
	return tenantAlias{Filter: newTermQuery("org_id", org.String()), Routing: org.String()}
}

// termQuery is {"term": {field: value}}.
type termQuery struct {
	Term map[string]string `json:"term"`
}

func newTermQuery(field, value string) termQuery {
	return termQuery{Term: map[string]string{field: value}}
}

// newBoolTermQuery is {"term": {field: value}} on a boolean field.
func newBoolTermQuery(field string, value bool) map[string]map[string]bool {
	return map[string]map[string]bool{"term": {field: value}}
}

// aliasIndices returns the indices the alias points to (none when it does
// not exist).
func (b *Backend) aliasIndices(ctx context.Context, alias string) ([]string, error) {
	var found map[string]json.RawMessage
	err := b.call(ctx, http.MethodGet, "/_alias/"+url.PathEscape(alias), nil, nil, &found)
	if statusOf(err) == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	indices := make([]string, 0, len(found))
	for index := range found {
		indices = append(indices, index)
	}
	return indices, nil
}

// ensureAlias makes sure the tenant's alias exists before a write. A new
// tenant's alias points to the shared index; an existing one is left where
// it is (a moved tenant keeps its dedicated index, whose mapping is brought
// up to date). The answer is cached: one round trip per tenant and process
// (two for a moved tenant).
func (b *Backend) ensureAlias(ctx context.Context, org uuid.UUID) error {
	_, err := b.findAlias(ctx, org, true)
	return err
}

// findAlias reports whether the tenant's alias exists, creating it on the
// shared index when it does not and create is set.
func (b *Backend) findAlias(ctx context.Context, org uuid.UUID, create bool) (bool, error) {
	b.mu.Lock()
	known := b.aliases[org]
	b.mu.Unlock()
	if known {
		return true, nil
	}
	alias := b.aliasName(org)
	indices, err := b.aliasIndices(ctx, alias)
	if err != nil {
		return false, err
	}
	for _, index := range indices {
		// A tenant moved to an index of its own before private memories
		// existed: that index needs their fields too, before a write.
		if index != b.opts.Index {
			if err := b.putVisibilityMapping(ctx, index); err != nil {
				return false, err
			}
		}
	}
	if len(indices) == 0 {
		if !create {
			return false, nil
		}
		path := "/" + url.PathEscape(b.opts.Index) + "/_alias/" + url.PathEscape(alias)
		if err := b.call(ctx, http.MethodPut, path, nil, newTenantAlias(org), nil); err != nil {
			return false, err
		}
	}
	b.mu.Lock()
	b.aliases[org] = true
	b.mu.Unlock()
	return true, nil
}
