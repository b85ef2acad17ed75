package auth

import (
	"slices"
	"testing"
)

func TestAllScopes(t *testing.T) {
	t.Run("every domain has a read and a write scope, plus feedback:admin and admin", func(t *testing.T) {
		got := AllScopes()
		domains := []string{"memories", "feedback", "experiments", "episodic", "codegraph", "vectors", "search"}
		if len(got) != 2*len(domains)+2 {
			t.Fatalf("AllScopes has %d scopes, want %d: %q", len(got), 2*len(domains)+2, got)
		}
		for _, d := range domains {
			for _, s := range []string{d + ":read", d + ":write"} {
				if !slices.Contains(got, s) {
					t.Errorf("AllScopes lacks %q", s)
				}
			}
		}
		for _, s := range []string{ScopeFeedbackAdmin, ScopeAdmin} {
			if !slices.Contains(got, s) {
				t.Errorf("AllScopes lacks %q", s)
			}
		}
	})
	t.Run("the order is stable between calls", func(t *testing.T) {
		if a, b := AllScopes(), AllScopes(); !slices.Equal(a, b) {
			t.Errorf("AllScopes changed order: %q then %q", a, b)
		}
	})
	t.Run("changing the returned slice does not change the next result", func(t *testing.T) {
		a := AllScopes()
		a[0] = "tampered"
		if AllScopes()[0] == "tampered" {
			t.Errorf("AllScopes returned its internal slice")
		}
	})
}

func TestValidScope(t *testing.T) {
	tests := []struct {
		name  string
		scope string
		want  bool
	}{
		{"a domain read scope is valid", ScopeCodeGraphRead, true},
		{"the admin scope is valid", "admin", true},
		{"an unknown domain is invalid", "billing:read", false},
		{"an unknown action is invalid", "memories:delete", false},
		{"scopes are case-sensitive", "Memories:Read", false},
		{"the empty string is invalid", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidScope(tt.scope); got != tt.want {
				t.Errorf("ValidScope(%q) = %v, want %v", tt.scope, got, tt.want)
			}
		})
	}
}
