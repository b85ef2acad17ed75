package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Issue signs an HS256 token for p, valid from now for ttl, so the `gateway
// token` command and tests can mint tokens the Verifier accepts.
// p.ExpiresAt is ignored (ttl decides it); every scope must be known, so a
// typo fails here instead of producing a token that silently lacks the scope.
// The token carries no iss or aud, so it only verifies when Config.Issuer and
// Config.Audience are empty.
func Issue(secret []byte, p Principal, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < minSecretLen {
		return "", fmt.Errorf("auth: issue: secret is %d bytes, need at least %d", len(secret), minSecretLen)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("auth: issue: ttl %v must be positive", ttl)
	}
	if p.UserID == uuid.Nil {
		return "", errors.New("auth: issue: principal has no user id")
	}
	if p.OrgID == uuid.Nil {
		return "", errors.New("auth: issue: principal has no org id")
	}
	for _, s := range p.Scopes {
		if !ValidScope(s) {
			return "", fmt.Errorf("auth: issue: unknown scope %q", s)
		}
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   p.UserID.String(),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Org:   p.OrgID.String(),
		Scope: knownScopes(p.Scopes),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: issue: sign: %w", err)
	}
	return signed, nil
}
