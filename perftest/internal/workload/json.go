package workload

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// jsonValue finds the field at path (names of nested objects; a number
// indexes an array) in a JSON document and returns it as text: a string's
// content or a number as written. Anything else, or a document that breaks
// off before the field, gives false. It reads only as far as the field.
func jsonValue(doc []byte, path []string) (string, bool) {
	i := 0
	for depth, name := range path {
		i = skipSpace(doc, i)
		if i >= len(doc) {
			return "", false
		}
		var found bool
		switch doc[i] {
		case '{':
			i, found = findKey(doc, i+1, name)
		case '[':
			n, err := strconv.Atoi(name)
			if err != nil || n < 0 {
				return "", false
			}
			i, found = findIndex(doc, i+1, n)
		}
		if !found {
			return "", false
		}
		if depth == len(path)-1 {
			return scalar(doc, skipSpace(doc, i))
		}
	}
	return "", false
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// findKey scans the members of an object from i (just after "{") for name
// and returns the offset of its value.
func findKey(doc []byte, i int, name string) (int, bool) {
	for {
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] != '"' {
			return 0, false // "}" ends the object without the field
		}
		end, escaped := stringEnd(doc, i)
		if end < 0 {
			return 0, false
		}
		key := doc[i+1 : end]
		match := string(key) == name
		if escaped {
			var k string
			match = json.Unmarshal(doc[i:end+1], &k) == nil && k == name
		}
		i = skipSpace(doc, end+1)
		if i >= len(doc) || doc[i] != ':' {
			return 0, false
		}
		i++
		if match {
			return i, true
		}
		if i = skipValue(doc, i); i < 0 {
			return 0, false
		}
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] != ',' {
			return 0, false
		}
		i++
	}
}

// findIndex returns the offset of element n of the array whose elements start at i.
func findIndex(doc []byte, i, n int) (int, bool) {
	for k := 0; ; k++ {
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] == ']' {
			return 0, false
		}
		if k == n {
			return i, true
		}
		if i = skipValue(doc, i); i < 0 {
			return 0, false
		}
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] != ',' {
			return 0, false
		}
		i++
	}
}

// stringEnd returns the offset of the quote closing the string at i, and
// whether the string holds escapes; -1 when it is not closed.
func stringEnd(doc []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(doc); j++ {
		switch doc[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j, escaped
		}
	}
	return -1, escaped
}

// skipValue returns the offset just past the value at i, or -1.
func skipValue(doc []byte, i int) int {
	i = skipSpace(doc, i)
	if i >= len(doc) {
		return -1
	}
	switch doc[i] {
	case '"':
		end, _ := stringEnd(doc, i)
		if end < 0 {
			return -1
		}
		return end + 1
	case '{', '[':
		depth := 0
		for j := i; j < len(doc); j++ {
			switch doc[j] {
			case '"':
				end, _ := stringEnd(doc, j)
				if end < 0 {
					return -1
				}
				j = end
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(doc) && doc[j] != ',' && doc[j] != '}' && doc[j] != ']' && doc[j] != ' ' && doc[j] != '\t' && doc[j] != '\n' && doc[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// scalar reads a string or a number at i as text; "" and other kinds give false.
func scalar(doc []byte, i int) (string, bool) {
	if i >= len(doc) {
		return "", false
	}
	if doc[i] == '"' {
		end, escaped := stringEnd(doc, i)
		if end < 0 || end == i+1 {
			return "", false
		}
		if escaped {
			var s string
			if json.Unmarshal(doc[i:end+1], &s) != nil || s == "" {
				return "", false
			}
			return s, true
		}
		return string(doc[i+1 : end]), true
	}
	end := skipValue(doc, i)
	if end < 0 {
		return "", false
	}
	tok := doc[i:end]
	if !isNumber(tok) {
		return "", false
	}
	return string(tok), true
}

// isNumber checks a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isNumber(b []byte) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// maxShapeKeys bounds the field names jsonShape lists.
const maxShapeKeys = 8

// jsonShape says what a response body holds at its top level, for the
// reason a JSON capture found nothing: "whose JSON has fields code, text".
func jsonShape(body []byte) string {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return "whose body is not a JSON object"
	}
	keys := slices.Sorted(maps.Keys(fields))
	if len(keys) == 0 {
		return "whose JSON object is empty"
	}
	more := ""
	if len(keys) > maxShapeKeys {
		keys, more = keys[:maxShapeKeys], ", …"
	}
	for i, k := range keys {
		keys[i] = strconv.Quote(clip(k))
	}
	return "whose JSON has fields " + strings.Join(keys, ", ") + more
}

// clip keeps a field name short enough to quote back.
func clip(s string) string {
	if r := []rune(s); len(r) > 32 {
		return string(r[:32]) + "…"
	}
	return s
}
