//go:build !linux

package load

import "errors"

// Prioritize raises the generator's scheduling priority on Linux only.
func Prioritize(nice int) error {
	return errors.New("generator priority: only raised on Linux")
}
