package storetest

import (
	"os"
	"testing"
)

// ServiceEnv returns the value of the environment variable that locates a real
// service (DATABASE_URL, VALKEY_URL, ...). `e2e/services/up` writes these into
// e2e/services/env. When the variable is unset the test is skipped with a hint,
// or fails when REQUIRE_SERVICES=1 (which `make test` sets), so that a missing
// service is never counted as a pass in CI.
func ServiceEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s is not set and REQUIRE_SERVICES=1: run e2e/services/up and source e2e/services/env", name)
	}
	t.Skipf("%s is not set: run e2e/services/up and source e2e/services/env to test against the real service", name)
	return ""
}
