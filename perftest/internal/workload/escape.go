package workload

import "net/url"

// appendEscaped appends s escaped as url.PathEscape (one path segment) or,
// for query, url.QueryEscape does it; a value of unreserved characters only,
// like a number, is appended as it is without allocating.
func appendEscaped(b []byte, s string, query bool) []byte {
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			if query {
				return append(b, url.QueryEscape(s)...)
			}
			return append(b, url.PathEscape(s)...)
		}
	}
	return append(b, s...)
}

// unreserved are the characters RFC 3986 never escapes.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
