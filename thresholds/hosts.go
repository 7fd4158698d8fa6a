package thresholds

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// Loopback reports whether host is this machine.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Allowed reports whether load may go to host: loopback, or matched by an
// entry of allow that checkAllow accepts. A host name matches an entry of the same name (in any
// case); an IP address matches the same address or a CIDR that holds it.
// Names are not resolved: a name is allowed by name only.
func Allowed(host string, allow []string) bool {
	if Loopback(host) {
		return true
	}
	ip, ipErr := netip.ParseAddr(strings.Trim(host, "[]"))
	for _, a := range allow {
		if checkAllow(a) != nil {
			continue // too broad, or no host at all: it allows nothing
		}
		switch {
		case strings.Contains(a, "/"):
			if p, err := netip.ParsePrefix(a); err == nil && ipErr == nil && p.Contains(ip.Unmap()) {
				return true
			}
		case ipErr == nil:
			if e, err := netip.ParseAddr(a); err == nil && e.Unmap() == ip.Unmap() {
				return true
			}
		case strings.EqualFold(a, host):
			return true
		}
	}
	return false
}

// Narrowest allow-list CIDRs: a prefix shorter than these lets load reach
// more hosts than a deployment has.
const (
	minAllowBitsV4 = 16 // 65,536 addresses
	minAllowBitsV6 = 48 // one site
)

var hostName = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)

// checkAllow says what is wrong with an allow-list entry, or nil: it must be
// a host name, an IP address or a CIDR no broader than a /16 (IPv4) or a
// /48 (IPv6).
func checkAllow(a string) error {
	ip, ipErr := netip.ParseAddr(a)
	switch {
	case a == "":
		return errors.New("is empty: name a host, an IP address or a CIDR like 10.0.7.0/24")
	case strings.ContainsAny(a, "*?"):
		return fmt.Errorf("%q: wildcards are not allowed: name each host, or give a CIDR like 10.0.7.0/24", a)
	case strings.Contains(a, "/"):
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR like 10.0.7.0/24", a)
		}
		if p != p.Masked() {
			return fmt.Errorf("%q has host bits set: write it as %s", a, p.Masked())
		}
		least := minAllowBitsV6
		if p.Addr().Is4() {
			least = minAllowBitsV4
		}
		if p.Bits() < least {
			return fmt.Errorf("%q is too broad: a CIDR in allow spans at most a /%d", a, least)
		}
	case ipErr == nil && ip.IsUnspecified():
		return fmt.Errorf("%q is no host: name the one to load", a)
	case ipErr == nil:
	case strings.Contains(a, ":"):
		return fmt.Errorf("%q is not a host name, an IP address or a CIDR (and takes no port)", a)
	case len(a) > 253 || !hostName.MatchString(a):
		return fmt.Errorf("%q is not a host name, an IP address or a CIDR", a)
	}
	return nil
}

// Redacted is raw with its secrets hidden, for printing: user info and
// the value of every query parameter and the fragment become "xxxxx". Of a
// raw URL that does not parse, what could be user info, a query or a
// fragment is hidden likewise.
func Redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			raw = raw[:i+1] + "xxxxx"
		}
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			from := strings.Index(raw, "://") + 3 // 2 when there is none
			if from < 3 {
				from = 0
			}
			raw = raw[:from] + "xxxxx" + raw[i:]
		}
		return raw
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		u.RawQuery = q.Encode()
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "xxxxx", ""
	}
	return u.String()
}
