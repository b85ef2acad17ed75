package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	t.Run("defaults apply when nothing is set", func(t *testing.T) {
		c, _, err := Load("gateway", nil, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != ":8080" || c.MaxPageSize != 100 || !c.Introspection || c.LoaderWait != 500*time.Microsecond || !c.Embedded() {
			t.Fatalf("unexpected defaults: %+v", c)
		}
	})
	t.Run("the environment overrides defaults and flags override the environment", func(t *testing.T) {
		c, rest, err := Load("gateway", []string{"--addr", ":9000", "extra"}, env(map[string]string{"GATEWAY_ADDR": ":7000", "GATEWAY_MAX_PAGE_SIZE": "50", "GATEWAY_DEFAULT_PAGE_SIZE": "10"}))
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != ":9000" || c.MaxPageSize != 50 || len(rest) != 1 || rest[0] != "extra" {
			t.Fatalf("got %+v, rest %v", c, rest)
		}
	})
	t.Run("a backend URL turns the embedded default off", func(t *testing.T) {
		c, _, err := Load("gateway", nil, env(map[string]string{"DATABASE_URL": "postgres://x"}))
		if err != nil || c.Embedded() {
			t.Fatalf("Embedded() = %v, err %v", c.Embedded(), err)
		}
	})
	for _, tt := range []struct{ name, key, value, want string }{
		{"a malformed number is refused with its variable named", "GATEWAY_MAX_PAGE_SIZE", "many", "GATEWAY_MAX_PAGE_SIZE"},
		{"a malformed duration is refused", "GATEWAY_LOADER_WAIT", "soon", "GATEWAY_LOADER_WAIT"},
		{"a short JWT secret is refused", "GATEWAY_JWT_SECRET", "short", "at least 32 bytes"},
		{"a default page size above the max is refused", "GATEWAY_DEFAULT_PAGE_SIZE", "500", "default page size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("gateway", nil, env(map[string]string{tt.key: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestREADMEDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings() {
		if !strings.Contains(string(readme), "| `"+s.Env+"` | `--"+s.Flag+"` |") {
			t.Errorf("README's configuration table lacks %s (--%s)", s.Env, s.Flag)
		}
	}
}

func TestBackendsAndVectorModels(t *testing.T) {
	t.Run("only PostgreSQL is required by default, and always", func(t *testing.T) {
		c, _, err := Load("gateway", nil, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if !c.Required("postgres") || c.Required("qdrant") || c.Required("embeddings") {
			t.Fatalf("required: postgres %v, qdrant %v, embeddings %v", c.Required("postgres"), c.Required("qdrant"), c.Required("embeddings"))
		}
		c, _, err = Load("gateway", nil, env(map[string]string{"GATEWAY_REQUIRED_BACKENDS": " qdrant, embeddings "}))
		if err != nil || !c.Required("postgres") || !c.Required("qdrant") || !c.Required("embeddings") || c.Required("neo4j") {
			t.Fatalf("err %v, config %+v", err, c)
		}
	})
	t.Run("vector models are model:dimension pairs", func(t *testing.T) {
		c, _, err := Load("gateway", nil, env(map[string]string{"GATEWAY_VECTOR_MODELS": "all-MiniLM-L6-v2:384, e2e-4d:4"}))
		if err != nil {
			t.Fatal(err)
		}
		models, err := c.DeclaredVectorModels()
		if err != nil || len(models) != 2 || models["all-MiniLM-L6-v2"] != 384 || models["e2e-4d"] != 4 {
			t.Fatalf("models %v, err %v", models, err)
		}
	})
	for _, bad := range []map[string]string{
		{"GATEWAY_REQUIRED_BACKENDS": "postgres,mysql"},
		{"GATEWAY_VECTOR_MODELS": "m"},
		{"GATEWAY_VECTOR_MODELS": "m:0"},
		{"GATEWAY_VECTOR_MODELS": "m:5000"},
		{"GATEWAY_VECTOR_MODELS": "bad/name:4"},
		{"GATEWAY_VECTOR_MODELS": "m:4,m:8"},
		{"GATEWAY_VECTOR_MODELS": "m:4", "EMBEDDINGS_URL": "http://e/v1", "EMBEDDINGS_MODEL": "m", "EMBEDDINGS_DIMENSION": "8"},
	} {
		if _, _, err := Load("gateway", nil, env(bad)); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}
