package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
)

// minRSABits rejects RSA keys too small to be trusted for signatures.
const minRSABits = 2048

// publicKey is one configured verification key. kid is empty for keys from a
// PEM file and for JWKS entries without a "kid"; fromPEM keys are tried for
// every token because the operator configured exactly that key.
type publicKey struct {
	kid     string
	fromPEM bool
	alg     string // "RS256" or "ES256"
	key     any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// loadPEM reads every public key or certificate block in path.
func loadPEM(path string) ([]publicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key file: %w", err)
	}
	var keys []publicKey
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		var pub any
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				pub = cert.PublicKey
			}
		default:
			return nil, fmt.Errorf("public key file %s: unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", path, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("public key file %s: parse %s: %w", path, block.Type, err)
		}
		k, err := classify(pub)
		if err != nil {
			return nil, fmt.Errorf("public key file %s: %w", path, err)
		}
		k.fromPEM = true
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("public key file %s: no PEM public key or certificate found", path)
	}
	return keys, nil
}

// classify picks the signing algorithm a public key may verify, rejecting
// key types and sizes the gateway does not accept.
func classify(pub any) (publicKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return publicKey{}, fmt.Errorf("RSA key is %d bits, need at least %d", k.N.BitLen(), minRSABits)
		}
		return publicKey{alg: "RS256", key: k}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return publicKey{}, fmt.Errorf("EC key on curve %s is not supported, need P-256", k.Curve.Params().Name)
		}
		return publicKey{alg: "ES256", key: k}, nil
	default:
		return publicKey{}, fmt.Errorf("unsupported public key type %T (want RSA or ECDSA P-256)", pub)
	}
}

// jwk is the subset of RFC 7517/7518 fields needed for RSA and EC public keys.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// errSkipKey marks a JWKS entry that is well formed but not usable for
// verifying our tokens (encryption keys, other algorithms or curves); such
// entries are skipped so a shared JWKS can carry them.
var errSkipKey = errors.New("key not usable for RS256/ES256 signatures")

// loadJWKS reads a JWKS document and returns its usable signature keys.
func loadJWKS(path string) ([]publicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read JWKS file: %w", err)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS file %s: %w", path, err)
	}
	var keys []publicKey
	for i, j := range set.Keys {
		k, err := j.publicKey()
		if errors.Is(err, errSkipKey) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("JWKS file %s: key %d (kid %q): %w", path, i, j.Kid, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS file %s: no RSA or EC P-256 signature keys", path)
	}
	return keys, nil
}

func (j jwk) publicKey() (publicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return publicKey{}, errSkipKey
	}
	var pub any
	switch j.Kty {
	case "RSA":
		if j.Alg != "" && j.Alg != "RS256" {
			return publicKey{}, errSkipKey
		}
		n, err := b64Int(j.N, "n")
		if err != nil {
			return publicKey{}, err
		}
		e, err := b64Int(j.E, "e")
		if err != nil {
			return publicKey{}, err
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return publicKey{}, errors.New("invalid RSA exponent")
		}
		pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC":
		if j.Crv != "P-256" || (j.Alg != "" && j.Alg != "ES256") {
			return publicKey{}, errSkipKey
		}
		x, err := b64Coord(j.X, "x")
		if err != nil {
			return publicKey{}, err
		}
		y, err := b64Coord(j.Y, "y")
		if err != nil {
			return publicKey{}, err
		}
		point := append(append([]byte{4}, x...), y...)
		ec, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return publicKey{}, fmt.Errorf("invalid EC point: %w", err)
		}
		pub = ec
	default:
		return publicKey{}, errSkipKey
	}
	k, err := classify(pub)
	if err != nil {
		return publicKey{}, err
	}
	k.kid = j.Kid
	return k, nil
}

func b64Int(s, field string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", field, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("field %q is empty", field)
	}
	return new(big.Int).SetBytes(b), nil
}

// b64Coord decodes a P-256 coordinate, left-padding to 32 bytes because some
// producers strip leading zeros; the point is validated on the curve later.
func b64Coord(s, field string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", field, err)
	}
	if len(b) == 0 || len(b) > 32 {
		return nil, fmt.Errorf("field %q has %d bytes, want 32", field, len(b))
	}
	return append(make([]byte, 32-len(b), 32), b...), nil
}
