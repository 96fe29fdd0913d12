package jetstream_test

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parleychat/parley/store/jetstream"
)

// TestShippedNATSConfigSyncsAlways: the NATS configuration the docs ship
// fsyncs every write before acknowledging it, and runs JetStream in a
// three-server cluster.
func TestShippedNATSConfigSyncsAlways(t *testing.T) {
	t.Setenv("PARLEY_NATS_PASSWORD", "p")
	t.Setenv("NATS_ADMIN_PASSWORD", "a")
	o, err := server.ProcessConfigFile("../../docs/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !o.JetStream || !o.SyncAlways {
		t.Fatalf("docs/nats.conf: jetstream %v, sync always %v; want both", o.JetStream, o.SyncAlways)
	}
	if len(o.Routes) != 3 || o.Cluster.Name == "" {
		t.Fatalf("docs/nats.conf: %d routes in cluster %q, want 3", len(o.Routes), o.Cluster.Name)
	}
}

// TestRulesVersions: a node applies messages written for its apply rules
// or earlier ones, and stops at later or unreadable ones.
func TestRulesVersions(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"1", true}, {"2", true}, {"3", false}, {"10", false}, {"999", false},
		{"", false}, {"0", false}, {"02", false}, {"-1", false}, {"x", false},
	} {
		if got := jetstream.KnownRules(tc.v); got != tc.want {
			t.Errorf("rules %q: got %v, want %v", tc.v, got, tc.want)
		}
	}
}
