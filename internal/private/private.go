// Package private keeps lookout's data directory readable by its own user
// only: directories 0700, files 0600. The data directory holds password
// hashes, token digests and everything applications sent, so the modes must
// not depend on the process umask (which leaves files 0644) nor on how a
// directory that already existed was made.
//
// It sets modes on each path explicitly rather than changing the umask,
// which is process-wide state that every other part would inherit.
package private

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

const (
	// DirMode is the mode of every directory lookout creates.
	DirMode fs.FileMode = 0o700
	// FileMode is the mode of every file lookout creates.
	FileMode fs.FileMode = 0o600
)

// MkdirAll creates dir (and missing parents) with DirMode, and takes group
// and other permissions away from a dir that already exists. It refuses,
// with the reason, a directory whose mode it cannot change (one owned by
// another user, or on a read-only file system), rather than leave data
// where others can read it.
func MkdirAll(dir string) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	return Tighten(dir)
}

// File creates path empty with FileMode if it does not exist, and takes
// group and other permissions away from it if it does. It is for files
// that another library then opens with its own, looser, default mode (SQLite
// uses 0644 and keeps the mode of a file that exists).
func File(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, FileMode)
	if err != nil {
		return err
	}
	err = tightenFile(f)
	return errors.Join(err, f.Close())
}

// Tighten takes group and other permissions away from path, a file or a
// directory; a path that does not exist is left alone.
func Tighten(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, perm&^0o077); err != nil {
		return fmt.Errorf("%q is mode %04o, open to other users, and cannot be made owner-only: %w", path, perm, err)
	}
	return nil
}

// tightenFile is Tighten through an open file, so that the mode changed is
// the one of the file that was opened.
func tightenFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := f.Chmod(perm &^ 0o077); err != nil {
		return fmt.Errorf("%q is mode %04o, open to other users, and cannot be made owner-only: %w", f.Name(), perm, err)
	}
	return nil
}
