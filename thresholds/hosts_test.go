package thresholds

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAllowedMatchesHostsAddressesAndCIDRs(t *testing.T) {
	allow := []string{"staging.example.com", "10.0.7.0/24", "192.0.2.9", "2001:db8:1::/64", "0.0.0.0/0", "*", "10.0.0.0/8"}
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"localhost", true},
		{"::1", true},
		{"staging.example.com", true},
		{"STAGING.example.com", true},
		{"other.example.com", false},
		{"10.0.7.1", true},
		{"10.0.7.255", true},
		{"10.0.8.1", false}, // in 10.0.0.0/8, which is too broad to allow anything
		{"192.0.2.9", true},
		{"192.0.2.10", false},
		{"2001:db8:1::7", true},
		{"[2001:db8:1::7]", true},
		{"2001:db8:2::7", false},
		{"8.8.8.8", false}, // in 0.0.0.0/0, which allows nothing
		{"anything", false},
		{"10.0.7.1.example.com", false}, // a name is allowed by name only
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Allowed(tt.host, allow), tt.host)
	}
}

func TestATargetInAnAllowedCIDRPasses(t *testing.T) {
	i := strings.Index(knownGoodTarget, "target:\n")
	base := strings.ReplaceAll(knownGoodTarget[:i], "    scope: per_instance\n", "")
	_, err := Parse("slo.yaml", []byte(base+"target:\n  urls: [http://10.0.7.9:8080]\n  allow: [10.0.7.0/24]\n  max_rate: 200/s\n  query: {url: http://127.0.0.1:9090}\n"))
	require.NoError(t, err)
}

func TestRedactedHidesUserInfoQueryValuesAndFragment(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:9090":                           "http://127.0.0.1:9090",
		"https://admin:pw@m.example.com/api?key=s3&x=1#f": "https://xxxxx@m.example.com/api?key=xxxxx&x=xxxxx#xxxxx",
		"https://tok@m.example.com":                       "https://xxxxx@m.example.com",
		"http://a b@c/%zz":                                "http://xxxxx@c/%zz",
		"http://u:p@h/%zz?k=s3cret":                       "http://xxxxx@h/%zz?xxxxx",
		"127.0.0.1:8080":                                  "127.0.0.1:8080",
	} {
		assert.Equal(t, want, Redacted(raw), raw)
	}
}
