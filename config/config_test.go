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
