//go:build !unix

package diskguard

import "errors"

// statfs is not available here: the guard turns itself off, saying so.
func statfs(string) (Usage, error) { return Usage{}, errors.ErrUnsupported }
