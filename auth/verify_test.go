package auth

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// verifiers builds the verifier configurations the request tests share.
type verifiers struct {
	hmac        *Verifier // secret only
	rsaOnly     *Verifier // RSA PEM only
	hmacAndRSA  *Verifier // secret and RSA PEM
	restricted  *Verifier // secret with issuer and audience
	jwks        *Verifier // JWKS with EC kids "a", "b", a kid-less EC key and RSA kid "r"
	certificate *Verifier // certificate PEM with an EC key
	rsaPEM      []byte
}

func newVerifiers(t *testing.T) verifiers {
	t.Helper()
	k := keys(t)
	rsaPEM := publicPEM(t, &k.rsa.PublicKey)
	rsaFile := writeFile(t, "rsa.pem", rsaPEM)
	jwksFile := writeJWKS(t,
		ecJWK("a", &k.ecA.PublicKey),
		ecJWK("b", &k.ecB.PublicKey),
		ecJWK("", &k.ecNo.PublicKey),
		rsaJWK("r", &k.rsa.PublicKey),
		map[string]any{"kty": "oct", "kid": "ignored", "k": "c2VjcmV0"},
	)
	return verifiers{
		hmac:        newVerifier(t, Config{HMACSecret: testSecret, Leeway: testLeeway}),
		rsaOnly:     newVerifier(t, Config{PublicKeyFile: rsaFile, Leeway: testLeeway}),
		hmacAndRSA:  newVerifier(t, Config{HMACSecret: testSecret, PublicKeyFile: rsaFile, Leeway: testLeeway}),
		restricted:  newVerifier(t, Config{HMACSecret: testSecret, Issuer: "https://issuer.test", Audience: "gateway", Leeway: testLeeway}),
		jwks:        newVerifier(t, Config{JWKSFile: jwksFile, Leeway: testLeeway}),
		certificate: newVerifier(t, Config{PublicKeyFile: writeFile(t, "cert.pem", certificatePEM(t, k.ecA)), Leeway: testLeeway}),
		rsaPEM:      rsaPEM,
	}
}

func TestFromRequestAcceptsValidTokens(t *testing.T) {
	k := keys(t)
	vs := newVerifiers(t)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, testSecret, "", c) }

	tests := []struct {
		name       string
		v          *Verifier
		header     string
		wantScopes []string
	}{
		{
			name:       "a valid HS256 token yields the principal with its scopes",
			v:          vs.hmac,
			header:     "Bearer " + hs(claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "unknown and repeated scopes are dropped without failing",
			v:          vs.hmac,
			header:     "Bearer " + hs(claimsFor(map[string]any{"scope": "billing:read admin  admin memories:write"})),
			wantScopes: []string{ScopeAdmin, ScopeMemoriesWrite},
		},
		{
			name:       "a scope claim given as a JSON array is understood",
			v:          vs.hmac,
			header:     "Bearer " + hs(claimsFor(map[string]any{"scope": []string{"vectors:read", "codegraph:write"}})),
			wantScopes: []string{ScopeVectorsRead, ScopeCodeGraphWrite},
		},
		{
			name:       "a token without a scope claim has no scopes",
			v:          vs.hmac,
			header:     "Bearer " + hs(claimsFor(map[string]any{"scope": nil})),
			wantScopes: []string{},
		},
		{
			name:       "the Bearer scheme is matched case-insensitively",
			v:          vs.hmac,
			header:     "bEARER   " + hs(claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "a token expired by less than the leeway is still accepted",
			v:          vs.hmac,
			header:     "Bearer " + hs(claimsFor(map[string]any{"exp": testNow.Add(-10 * time.Second).Unix()})),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "a token not valid until within the leeway is already accepted",
			v:          vs.hmac,
			header:     "Bearer " + hs(claimsFor(map[string]any{"nbf": testNow.Add(10 * time.Second).Unix(), "iat": testNow.Add(10 * time.Second).Unix()})),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "an RS256 token verifies against the RSA public key PEM",
			v:          vs.rsaOnly,
			header:     "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "", claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "an RS256 token verifies against the PEM key whatever its kid",
			v:          vs.rsaOnly,
			header:     "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "some-kid", claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "an ES256 token verifies against the key in a certificate PEM",
			v:          vs.certificate,
			header:     "Bearer " + sign(t, jwt.SigningMethodES256, k.ecA, "", claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "an HS256 token is accepted when both a secret and an RSA key are configured",
			v:          vs.hmacAndRSA,
			header:     "Bearer " + hs(claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "an RS256 token is accepted when both a secret and an RSA key are configured",
			v:          vs.hmacAndRSA,
			header:     "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "", claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "an ES256 token verifies against the JWKS key named by its kid",
			v:          vs.jwks,
			header:     "Bearer " + sign(t, jwt.SigningMethodES256, k.ecB, "b", claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "an RS256 token verifies against the RSA key in the JWKS",
			v:          vs.jwks,
			header:     "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "r", claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name:       "a token without kid verifies against the JWKS key without kid",
			v:          vs.jwks,
			header:     "Bearer " + sign(t, jwt.SigningMethodES256, k.ecNo, "", claimsFor(nil)),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
		{
			name: "a token with the configured issuer and one of its audiences is accepted",
			v:    vs.restricted,
			header: "Bearer " + hs(claimsFor(map[string]any{
				"iss": "https://issuer.test", "aud": []string{"other", "gateway"},
			})),
			wantScopes: []string{ScopeMemoriesRead, ScopeSearchWrite},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			r.Header.Set("Authorization", tt.header)
			p, err := tt.v.FromRequest(r)
			if err != nil {
				t.Fatalf("FromRequest: %v", err)
			}
			if p.UserID != testUser || p.OrgID != testOrg {
				t.Errorf("principal = user %s org %s, want user %s org %s", p.UserID, p.OrgID, testUser, testOrg)
			}
			if !slices.Equal(p.Scopes, tt.wantScopes) {
				t.Errorf("scopes = %q, want %q", p.Scopes, tt.wantScopes)
			}
			if p.ExpiresAt.IsZero() {
				t.Errorf("ExpiresAt is zero, want the token's exp")
			}
		})
	}
}

func TestFromRequestRejectsBadTokens(t *testing.T) {
	k := keys(t)
	vs := newVerifiers(t)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, testSecret, "", c) }
	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claimsFor(nil))
	confused := sign(t, jwt.SigningMethodHS256, vs.rsaPEM, "", claimsFor(nil))
	valid := hs(claimsFor(nil))
	parts := strings.Split(valid, ".")
	forgedPayload := strings.Split(hs(claimsFor(map[string]any{"scope": "admin"})), ".")[1]

	tests := []struct {
		name    string
		v       *Verifier
		header  string // full Authorization header; empty means none
		wantMsg string
	}{
		{"a request without an Authorization header is rejected", vs.hmac, "", "unauthenticated: missing bearer token"},
		{"a Basic authorization header is rejected", vs.hmac, "Basic dXNlcjpwYXNz", "unauthenticated: authorization scheme must be Bearer"},
		{"a bare token without a scheme is rejected", vs.hmac, valid, "unauthenticated: authorization scheme must be Bearer"},
		{"a Bearer header without a token is rejected", vs.hmac, "Bearer ", "unauthenticated: missing bearer token"},
		{"a garbage token is rejected as malformed", vs.hmac, "Bearer not-a-jwt", "unauthenticated: malformed token"},
		{"a token with undecodable segments is rejected as malformed", vs.hmac, "Bearer !!.??.**", "unauthenticated: malformed token"},
		{"a token signed with another secret is rejected", vs.hmac, "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-that-is-also-32-bytes-long"), "", claimsFor(nil)), "unauthenticated: invalid token signature"},
		{"a token whose payload was swapped after signing is rejected", vs.hmac, "Bearer " + parts[0] + "." + forgedPayload + "." + parts[2], "unauthenticated: invalid token signature"},
		{"an expired token is rejected", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"exp": testNow.Add(-time.Minute).Unix()})), "unauthenticated: token expired"},
		{"a token whose nbf is beyond the leeway is rejected", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"nbf": testNow.Add(time.Minute).Unix()})), "unauthenticated: token not valid yet"},
		{"a token issued beyond the leeway in the future is rejected", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"iat": testNow.Add(time.Minute).Unix()})), "unauthenticated: token issued in the future"},
		{"a token without exp is rejected", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"exp": nil})), "unauthenticated: token has no expiry"},
		{"an alg none token is rejected", vs.hmac, "Bearer " + noneToken, "unauthenticated: token signing algorithm not accepted"},
		{"an alg none token is rejected by an RSA verifier", vs.rsaOnly, "Bearer " + noneToken, "unauthenticated: token signing algorithm not accepted"},
		{"an HS256 token signed with the RSA public PEM is rejected when only RSA is configured", vs.rsaOnly, "Bearer " + confused, "unauthenticated: token signing algorithm not accepted"},
		{"an HS256 token signed with the RSA public PEM is rejected when a secret is configured too", vs.hmacAndRSA, "Bearer " + confused, "unauthenticated: invalid token signature"},
		{"an RS256 token is rejected when only a secret is configured", vs.hmac, "Bearer " + sign(t, jwt.SigningMethodRS256, k.rsa, "", claimsFor(nil)), "unauthenticated: token signing algorithm not accepted"},
		{"an ES256 token is rejected when only RSA keys are configured", vs.rsaOnly, "Bearer " + sign(t, jwt.SigningMethodES256, k.ecA, "", claimsFor(nil)), "unauthenticated: token signing algorithm not accepted"},
		{"an RS384 token is rejected even with the right RSA key", vs.rsaOnly, "Bearer " + sign(t, jwt.SigningMethodRS384, k.rsa, "", claimsFor(nil)), "unauthenticated: token signing algorithm not accepted"},
		{"an RS256 token signed by another RSA key is rejected", vs.rsaOnly, "Bearer " + sign(t, jwt.SigningMethodRS256, mustRSA(t), "", claimsFor(nil)), "unauthenticated: invalid token signature"},
		{"a token without org is rejected", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"org": nil})), "unauthenticated: token has no org"},
		{"a token with a malformed org is rejected", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"org": "acme"})), "unauthenticated: token org is not a valid org id"},
		{"a token with the nil UUID as org is rejected", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"org": "00000000-0000-0000-0000-000000000000"})), "unauthenticated: token org is not a valid org id"},
		{"a token whose org is not a string is rejected as malformed", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"org": 42})), "unauthenticated: malformed token"},
		{"a token without sub is rejected", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"sub": nil})), "unauthenticated: token has no subject"},
		{"a token with a malformed sub is rejected", vs.hmac, "Bearer " + hs(claimsFor(map[string]any{"sub": "alice@example.com"})), "unauthenticated: token subject is not a valid user id"},
		{"a token from another issuer is rejected when an issuer is configured", vs.restricted, "Bearer " + hs(claimsFor(map[string]any{"iss": "https://evil.test", "aud": "gateway"})), "unauthenticated: token has wrong issuer"},
		{"a token without iss is rejected when an issuer is configured", vs.restricted, "Bearer " + hs(claimsFor(map[string]any{"aud": "gateway"})), "unauthenticated: token has wrong issuer"},
		{"a token for another audience is rejected when an audience is configured", vs.restricted, "Bearer " + hs(claimsFor(map[string]any{"iss": "https://issuer.test", "aud": []string{"billing"}})), "unauthenticated: token has wrong audience"},
		{"a token without aud is rejected when an audience is configured", vs.restricted, "Bearer " + hs(claimsFor(map[string]any{"iss": "https://issuer.test"})), "unauthenticated: token has wrong audience"},
		{"a token naming an unknown kid is rejected", vs.jwks, "Bearer " + sign(t, jwt.SigningMethodES256, k.ecA, "zzz", claimsFor(nil)), "unauthenticated: unknown signing key"},
		{"a token signed by key a but naming kid b is rejected", vs.jwks, "Bearer " + sign(t, jwt.SigningMethodES256, k.ecA, "b", claimsFor(nil)), "unauthenticated: invalid token signature"},
		{"a token without kid is not checked against JWKS keys that have one", vs.jwks, "Bearer " + sign(t, jwt.SigningMethodES256, k.ecA, "", claimsFor(nil)), "unauthenticated: invalid token signature"},
		{"a token naming a JWKS entry of an unsupported type is rejected", vs.jwks, "Bearer " + sign(t, jwt.SigningMethodES256, k.ecA, "ignored", claimsFor(nil)), "unauthenticated: unknown signing key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/graphql", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			p, err := tt.v.FromRequest(r)
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("FromRequest error = %v (principal %+v), want ErrUnauthenticated", err, p)
			}
			if got := err.Error(); got != tt.wantMsg {
				t.Errorf("message = %q, want %q", got, tt.wantMsg)
			}
			if tok, ok := strings.CutPrefix(tt.header, "Bearer "); ok && len(tok) > 8 && strings.Contains(err.Error(), tok) {
				t.Errorf("message %q leaks the token", err.Error())
			}
			if strings.Contains(err.Error(), string(testSecret)) || strings.Contains(err.Error(), "PUBLIC KEY") {
				t.Errorf("message %q leaks key material", err.Error())
			}
			if p.UserID != uuid.Nil || p.OrgID != uuid.Nil || p.Scopes != nil {
				t.Errorf("principal = %+v, want the zero Principal on failure", p)
			}
		})
	}
}

func TestVerifyKeepsTheCauseForLogs(t *testing.T) {
	v := newVerifier(t, Config{HMACSecret: testSecret})
	_, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, "", claimsFor(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})))
	if !errors.Is(err, ErrUnauthenticated) || !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("error = %v, want it to wrap both ErrUnauthenticated and jwt.ErrTokenExpired", err)
	}
}

func TestVerifyUsesTheRealClockWhenNowIsNil(t *testing.T) {
	v, err := NewVerifier(Config{HMACSecret: testSecret})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	tests := []struct {
		name    string
		exp     time.Time
		wantErr bool
	}{
		{"a token expiring in an hour from now is accepted", time.Now().Add(time.Hour), false},
		{"a token that expired an hour ago is rejected", time.Now().Add(-time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, "", claimsFor(map[string]any{
				"exp": tt.exp.Unix(), "iat": nil, "nbf": nil,
			})))
			if (err != nil) != tt.wantErr {
				t.Errorf("Verify error = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

func TestVerifierIsSafeForConcurrentUse(t *testing.T) {
	vs := newVerifiers(t)
	k := keys(t)
	tokens := []string{
		sign(t, jwt.SigningMethodHS256, testSecret, "", claimsFor(nil)),
		sign(t, jwt.SigningMethodRS256, k.rsa, "", claimsFor(nil)),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			if _, err := vs.hmacAndRSA.Verify(tokens[i%len(tokens)]); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Verify: %v", err)
	}
}
