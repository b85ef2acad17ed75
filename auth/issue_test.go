package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestIssueRoundTripsThroughVerify(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		scopes []string
	}{
		{"a token with every scope verifies with the development secret", []byte(DevelopmentSecret), AllScopes()},
		{"a token with one scope verifies with a configured secret", testSecret, []string{ScopeEpisodicWrite}},
		{"a token without scopes verifies and grants nothing", testSecret, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := Principal{UserID: testUser, OrgID: testOrg, Scopes: tt.scopes}
			tok, err := Issue(tt.secret, want, 15*time.Minute, testNow)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			got, err := newVerifier(t, Config{HMACSecret: tt.secret}).Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.UserID != want.UserID || got.OrgID != want.OrgID {
				t.Errorf("principal = user %s org %s, want user %s org %s", got.UserID, got.OrgID, want.UserID, want.OrgID)
			}
			if !slices.Equal(got.Scopes, tt.scopes) {
				t.Errorf("scopes = %q, want %q", got.Scopes, tt.scopes)
			}
			if wantExp := testNow.Add(15 * time.Minute); !got.ExpiresAt.Equal(wantExp) {
				t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, wantExp)
			}
		})
	}
}

func TestIssuedTokenExpiresAfterItsTTL(t *testing.T) {
	tok, err := Issue(testSecret, Principal{UserID: testUser, OrgID: testOrg}, time.Minute, testNow)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	later := func() time.Time { return testNow.Add(2 * time.Minute) }
	_, err = newVerifier(t, Config{HMACSecret: testSecret, Now: later}).Verify(tok)
	if !errors.Is(err, ErrUnauthenticated) || err.Error() != "unauthenticated: token expired" {
		t.Errorf("Verify two minutes later = %v, want unauthenticated: token expired", err)
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	ok := Principal{UserID: testUser, OrgID: testOrg}
	tests := []struct {
		name    string
		secret  []byte
		p       Principal
		ttl     time.Duration
		wantErr string
	}{
		{"a short secret is refused", []byte("short"), ok, time.Hour, "need at least 32"},
		{"a zero ttl is refused", testSecret, ok, 0, "must be positive"},
		{"a negative ttl is refused", testSecret, ok, -time.Hour, "must be positive"},
		{"a principal without user is refused", testSecret, Principal{OrgID: testOrg}, time.Hour, "no user id"},
		{"a principal without org is refused", testSecret, Principal{UserID: testUser, OrgID: uuid.Nil}, time.Hour, "no org id"},
		{"an unknown scope is refused", testSecret, Principal{UserID: testUser, OrgID: testOrg, Scopes: []string{"memories:delete"}}, time.Hour, `unknown scope "memories:delete"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Issue(tt.secret, tt.p, tt.ttl, testNow)
			if err == nil {
				t.Fatalf("Issue = %q, want an error containing %q", tok, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
