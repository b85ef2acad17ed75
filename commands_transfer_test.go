package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestTenantTransferCommandUsage(t *testing.T) {
	org := uuid.NewString()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand is refused with the usage", nil, "no subcommand"},
		{"an unknown subcommand is refused with the usage", []string{"copy"}, `unknown subcommand "copy"`},
		{"an export without ORG is refused", []string{"export"}, "want exactly one ORG"},
		{"an export of an ORG that is not a UUID is refused", []string{"export", "acme"}, `ORG "acme" is not an organisation UUID`},
		{"an export with --merge is refused", []string{"export", "--merge", org}, "no --org or --merge"},
		{"an import of two files is refused", []string{"import", "a", "b"}, "at most one FILE"},
		{"an import under an --org that is not a UUID is refused", []string{"import", "--org", "acme", "a"}, `--org "acme" is not an organisation UUID`},
		{"an unknown flag is refused", []string{"import", "--force"}, "flag provided but not defined: -force"},
		{"an export without DATABASE_OWNER_URL is refused", []string{"export", org}, "DATABASE_OWNER_URL is not set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"tenant"}, c.args...), process{getenv: noEnv, stdout: &out, stderr: io.Discard})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
			if out.Len() != 0 {
				t.Fatalf("printed %q on a usage error", out.String())
			}
		})
	}
}
