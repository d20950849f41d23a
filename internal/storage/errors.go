package storage

import "errors"

// ErrCommitted is returned by a write or Commit on a batch that was already
// committed: a batch commits once.
var ErrCommitted = errors.New("storage: batch already committed")

// ErrNoSpace: the file system has no room for a write storage must make.
var ErrNoSpace = errors.New("storage: no space left on device")
