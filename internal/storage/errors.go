package storage

import "errors"

// ErrCommitted is returned by a write or Commit on a batch that was already
// committed: a batch commits once.
var ErrCommitted = errors.New("storage: batch already committed")
