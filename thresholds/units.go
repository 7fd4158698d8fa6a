package thresholds

import vocab "github.com/perfgate/perfgate/thresholds/units"

var (
	errSyntax    = vocab.ErrSyntax
	errNotFinite = vocab.ErrNotFinite
)

// parseValue reads s in unit u as package units does; plain also accepts a
// bare number in the base unit.
func parseValue(u Unit, s string, plain bool) (float64, error) {
	if plain {
		return u.ParseBare(s)
	}
	return u.Parse(s)
}
