package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNewVerifierRejectsBadConfig(t *testing.T) {
	k := keys(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatalf("generate P-384 key: %v", err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatalf("generate 1024-bit key: %v", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.ecA)
	if err != nil {
		t.Fatalf("marshal private key: %v", err)
	}
	offCurve := ecJWK("bad", &k.ecA.PublicKey)
	offCurve["y"] = offCurve["x"]
	missing := filepath.Join(t.TempDir(), "does-not-exist.pem")

	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		wantIs  error
	}{
		{name: "a config without any key source is refused", cfg: Config{}, wantErr: "no key configured"},
		{name: "a secret shorter than 32 bytes is refused", cfg: Config{HMACSecret: []byte("too-short")}, wantErr: "need at least 32"},
		{name: "a negative leeway is refused", cfg: Config{HMACSecret: testSecret, Leeway: -time.Second}, wantErr: "must not be negative"},
		{name: "an unreadable public key file is refused", cfg: Config{PublicKeyFile: missing}, wantErr: "read public key file", wantIs: fs.ErrNotExist},
		{name: "an unreadable JWKS file is refused", cfg: Config{JWKSFile: missing}, wantErr: "read JWKS file", wantIs: fs.ErrNotExist},
		{name: "a public key file without PEM is refused", cfg: Config{PublicKeyFile: writeFile(t, "junk.pem", []byte("hello"))}, wantErr: "no PEM public key"},
		{name: "a PEM block with corrupt DER is refused", cfg: Config{PublicKeyFile: writeFile(t, "corrupt.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}))}, wantErr: "parse PUBLIC KEY"},
		{name: "a PEM file holding a private key is refused", cfg: Config{PublicKeyFile: writeFile(t, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))}, wantErr: `unsupported PEM block "PRIVATE KEY"`},
		{name: "an RSA key under 2048 bits is refused", cfg: Config{PublicKeyFile: writeFile(t, "small.pem", publicPEM(t, &small.PublicKey))}, wantErr: "1024 bits"},
		{name: "an EC key on a curve other than P-256 is refused", cfg: Config{PublicKeyFile: writeFile(t, "p384.pem", publicPEM(t, &p384.PublicKey))}, wantErr: "need P-256"},
		{name: "a JWKS file that is not JSON is refused", cfg: Config{JWKSFile: writeFile(t, "jwks.json", []byte("{not json"))}, wantErr: "JWKS file"},
		{name: "a JWKS without usable signature keys is refused", cfg: Config{JWKSFile: writeJWKS(t, map[string]any{"kty": "oct", "k": "c2VjcmV0"})}, wantErr: "no RSA or EC P-256 signature keys"},
		{name: "a JWKS EC key whose point is not on the curve is refused", cfg: Config{JWKSFile: writeJWKS(t, offCurve)}, wantErr: "invalid EC point"},
		{name: "a JWKS RSA key with bad base64 is refused", cfg: Config{JWKSFile: writeJWKS(t, map[string]any{"kty": "RSA", "n": "%%%", "e": "AQAB"})}, wantErr: `field "n"`},
		{name: "a JWKS RSA key with an even exponent is refused", cfg: Config{JWKSFile: writeJWKS(t, map[string]any{"kty": "RSA", "n": b64(k.rsa.N.Bytes()), "e": "Ag"})}, wantErr: "invalid RSA exponent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if err == nil {
				t.Fatalf("NewVerifier = %v, want an error containing %q", v, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error = %v, want it to wrap %v", err, tt.wantIs)
			}
		})
	}
}

func TestNewVerifierAcceptsEveryKeySource(t *testing.T) {
	k := keys(t)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	tests := []struct {
		name string
		cfg  Config
	}{
		{"the development secret is long enough", Config{HMACSecret: []byte(DevelopmentSecret)}},
		{"a PKIX RSA public key PEM is loaded", Config{PublicKeyFile: writeFile(t, "rsa.pem", publicPEM(t, &k.rsa.PublicKey))}},
		{"a PKCS #1 RSA public key PEM is loaded", Config{PublicKeyFile: writeFile(t, "rsa1.pem", pkcs1)}},
		{"an EC P-256 public key PEM is loaded", Config{PublicKeyFile: writeFile(t, "ec.pem", publicPEM(t, &k.ecA.PublicKey))}},
		{"a certificate PEM is loaded", Config{PublicKeyFile: writeFile(t, "cert.pem", certificatePEM(t, k.ecA))}},
		{"a JWKS that also lists encryption and P-384 keys is loaded", Config{JWKSFile: writeJWKS(t,
			ecJWK("a", &k.ecA.PublicKey),
			map[string]any{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
			map[string]any{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
		)}},
		{"all three key sources together are loaded", Config{
			HMACSecret:    testSecret,
			PublicKeyFile: writeFile(t, "rsa.pem", publicPEM(t, &k.rsa.PublicKey)),
			JWKSFile:      writeJWKS(t, ecJWK("a", &k.ecA.PublicKey)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier(tt.cfg); err != nil {
				t.Errorf("NewVerifier: %v", err)
			}
		})
	}
}

func TestNewVerifierCopiesTheSecret(t *testing.T) {
	secret := []byte(string(testSecret))
	v := newVerifier(t, Config{HMACSecret: secret})
	tok, err := Issue(testSecret, Principal{UserID: testUser, OrgID: testOrg}, time.Hour, testNow)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	for i := range secret {
		secret[i] = 'x'
	}
	if _, err := v.Verify(tok); err != nil {
		t.Errorf("Verify after the caller overwrote its secret slice: %v", err)
	}
}
