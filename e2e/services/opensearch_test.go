package services_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/codingbrain/gateway/stores/storetest"
)

// TestOpenSearchSmoke creates a uniquely named index, indexes a document with
// refresh=true and finds it again with a match query.
func TestOpenSearchSmoke(t *testing.T) {
	url := storetest.ServiceEnv(t, "OPENSEARCH_URL")
	client, err := opensearchapi.NewClient(opensearchapi.Config{
		Client: opensearch.Config{Addresses: []string{url}},
	})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	index := "smoke-" + strings.ToLower(rand.Text())
	_, err = client.Indices.Create(ctx, opensearchapi.IndicesCreateReq{
		Index: index,
		Body: strings.NewReader(`{
			"settings": {"number_of_shards": 1, "number_of_replicas": 0},
			"mappings": {"dynamic": "strict", "properties": {
				"org_id": {"type": "keyword"},
				"content": {"type": "text", "analyzer": "english"}
			}}
		}`),
	})
	if err != nil {
		t.Fatalf("create index %s: %v", index, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.Indices.Delete(ctx, opensearchapi.IndicesDeleteReq{Indices: []string{index}}); err != nil {
			t.Errorf("delete index %s: %v", index, err)
		}
	})

	_, err = client.Index(ctx, opensearchapi.IndexReq{
		Index:      index,
		DocumentID: "doc-1",
		Body:       strings.NewReader(`{"org_id": "org-a", "content": "The gateway remembers running benchmarks"}`),
		Params:     opensearchapi.IndexParams{Refresh: "true"},
	})
	if err != nil {
		t.Fatalf("index document: %v", err)
	}

	// "remember" and "benchmark" only match through english stemming.
	resp, err := client.Search(ctx, &opensearchapi.SearchReq{
		Indices: []string{index},
		Body: strings.NewReader(`{"query": {"bool": {
			"must": {"match": {"content": "remember benchmark"}},
			"filter": {"term": {"org_id": "org-a"}}
		}}}`),
	})
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if n := len(resp.Hits.Hits); n != 1 || resp.Hits.Hits[0].ID != "doc-1" {
		t.Fatalf("search returned %d hits (%+v), want doc-1", n, resp.Hits.Hits)
	}
}
