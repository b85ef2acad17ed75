package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// minSecretLen is the shortest HS256 secret accepted (RFC 7518 section 3.2
// requires a key at least as long as the hash output).
const minSecretLen = 32

// Config says which keys may sign tokens and which registered claims must
// match. Several key sources may be set at once (for example during a key
// rotation from a shared secret to a JWKS); a token valid under any of them
// is accepted.
type Config struct {
	// HMACSecret enables HS256 tokens; it must be at least 32 bytes.
	HMACSecret []byte
	// PublicKeyFile is a PEM file with RSA (RS256) or ECDSA P-256 (ES256)
	// public keys or certificates. Its keys are tried whatever the token's kid.
	PublicKeyFile string
	// JWKSFile is a JWKS JSON file of RSA and EC P-256 keys, selected by the
	// token's "kid"; keys without a kid are tried for tokens without one.
	JWKSFile string
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must be one of the token's "aud" values.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat; zero means none,
	// so the caller supplies its default.
	Leeway time.Duration
	// Now replaces time.Now in tests; nil means time.Now.
	Now func() time.Time
}

// Verifier checks bearer tokens against a fixed Config. It is immutable after
// NewVerifier and safe for concurrent use by every request goroutine.
type Verifier struct {
	secret   []byte
	keys     []publicKey
	methods  []string
	issuer   string
	audience string
	parser   *jwt.Parser
}

// NewVerifier loads the configured keys once, at startup, so a bad key file
// stops the gateway instead of failing every request. It fails when no key
// source is configured, a file is unreadable or invalid, or the secret is
// shorter than 32 bytes.
func NewVerifier(cfg Config) (*Verifier, error) {
	if len(cfg.HMACSecret) == 0 && cfg.PublicKeyFile == "" && cfg.JWKSFile == "" {
		return nil, errors.New("auth: no key configured: set an HMAC secret, a public key file or a JWKS file")
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth: leeway %v must not be negative", cfg.Leeway)
	}
	v := &Verifier{issuer: cfg.Issuer, audience: cfg.Audience}
	if len(cfg.HMACSecret) > 0 {
		if len(cfg.HMACSecret) < minSecretLen {
			return nil, fmt.Errorf("auth: HMAC secret is %d bytes, need at least %d", len(cfg.HMACSecret), minSecretLen)
		}
		v.secret = slices.Clone(cfg.HMACSecret)
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	if cfg.PublicKeyFile != "" {
		keys, err := loadPEM(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		v.keys = append(v.keys, keys...)
	}
	if cfg.JWKSFile != "" {
		keys, err := loadJWKS(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		v.keys = append(v.keys, keys...)
	}
	for _, k := range v.keys {
		if !slices.Contains(v.methods, k.alg) {
			v.methods = append(v.methods, k.alg)
		}
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// claims is the token payload: the registered claims plus "org" and the
// OAuth 2 "scope".
type claims struct {
	jwt.RegisteredClaims
	Org   string     `json:"org,omitempty"`
	Scope scopeClaim `json:"scope,omitempty"`
}

// scopeClaim decodes "scope" from the standard space-separated string and,
// for identity providers that emit one, from a JSON array of strings.
type scopeClaim []string

func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = splitScopes(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("scope must be a string or an array of strings: %w", err)
	}
	*s = list
	return nil
}

func (s scopeClaim) MarshalJSON() ([]byte, error) {
	return json.Marshal(strings.Join(s, " "))
}

// errNoKey is returned by the key function when no configured key matches
// the token's algorithm and kid.
var errNoKey = errors.New("no configured key matches the token")

// keyFor selects the candidate keys for a token whose algorithm has already
// been checked against the allowed methods by the parser.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if alg == jwt.SigningMethodHS256.Alg() {
		if v.secret == nil {
			return nil, errNoKey
		}
		return v.secret, nil
	}
	kid, _ := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range v.keys {
		if k.alg == alg && (k.fromPEM || k.kid == kid) {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, errNoKey
	}
	return set, nil
}

// Verify checks a raw JWT and returns the principal it carries. Every error
// wraps ErrUnauthenticated and has a message safe to return to the client.
func (v *Verifier) Verify(raw string) (Principal, error) {
	if raw == "" {
		return Principal{}, unauthenticated("missing bearer token", nil)
	}
	var c claims
	tok, err := v.parser.ParseWithClaims(raw, &c, v.keyFor)
	if err != nil {
		return Principal{}, v.classify(tok, &c, err)
	}

	if c.Subject == "" {
		return Principal{}, unauthenticated("token has no subject", nil)
	}
	user, err := uuid.Parse(c.Subject)
	if err != nil || user == uuid.Nil {
		return Principal{}, unauthenticated("token subject is not a valid user id", err)
	}
	if c.Org == "" {
		return Principal{}, unauthenticated("token has no org", nil)
	}
	org, err := uuid.Parse(c.Org)
	if err != nil || org == uuid.Nil {
		return Principal{}, unauthenticated("token org is not a valid org id", err)
	}
	return Principal{
		UserID:    user,
		OrgID:     org,
		Scopes:    knownScopes(c.Scope),
		ExpiresAt: c.ExpiresAt.Time,
	}, nil
}

// classify maps a jwt parse error to a client-safe message, keeping the
// original error reachable through errors.Is for logs.
func (v *Verifier) classify(tok *jwt.Token, c *claims, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return unauthenticated("malformed token", err)
	case tok != nil && tok.Method != nil && !slices.Contains(v.methods, tok.Method.Alg()):
		return unauthenticated("token signing algorithm not accepted", err)
	case errors.Is(err, errNoKey):
		return unauthenticated("unknown signing key", err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return unauthenticated("token signing algorithm not accepted", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthenticated("invalid token signature", err)
	case c.ExpiresAt == nil:
		return unauthenticated("token has no expiry", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthenticated("token expired", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthenticated("token not valid yet", err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return unauthenticated("token issued in the future", err)
	case v.issuer != "" && c.Issuer != v.issuer:
		return unauthenticated("token has wrong issuer", err)
	case v.audience != "" && !slices.Contains(c.Audience, v.audience):
		return unauthenticated("token has wrong audience", err)
	default:
		return unauthenticated("invalid token", err)
	}
}

// FromRequest verifies the "Authorization: Bearer <jwt>" header (scheme
// matched case-insensitively). A missing header or another scheme is an
// ErrUnauthenticated error, so the caller decides whether anonymous access
// is allowed.
func (v *Verifier) FromRequest(r *http.Request) (Principal, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return Principal{}, unauthenticated("missing bearer token", nil)
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, unauthenticated("authorization scheme must be Bearer", nil)
	}
	return v.Verify(strings.TrimSpace(token))
}
