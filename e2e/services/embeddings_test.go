package services_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/codingbrain/gateway/stores/storetest"
)

// TestEmbeddingsSmoke posts two texts to the OpenAI-compatible route and
// checks that two 384-float vectors come back, in order.
func TestEmbeddingsSmoke(t *testing.T) {
	base := storetest.ServiceEnv(t, "EMBEDDINGS_URL")
	body, _ := json.Marshal(map[string]any{
		"model": os.Getenv("EMBEDDINGS_MODEL"),
		"input": []string{"retries use exponential backoff", "the build cache is shared"},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/embeddings", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s/embeddings: %v", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s/embeddings: HTTP %d", base, resp.StatusCode)
	}
	var answer struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(answer.Data) != 2 {
		t.Fatalf("%d vectors for 2 texts", len(answer.Data))
	}
	for i, d := range answer.Data {
		if d.Index != i || len(d.Embedding) != 384 {
			t.Errorf("item %d: index %d, dimension %d; want %d and 384", i, d.Index, len(d.Embedding), i)
		}
	}
}
