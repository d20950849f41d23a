package storage

import (
	"errors"
	"testing"
)

func TestCheckFormat(t *testing.T) {
	for _, tc := range []struct {
		name   string
		value  string // "" for no FormatKey
		found  uint64
		err    error
		errMsg string
	}{
		{name: "absent", found: 0},
		{name: "this binary's", value: `{"format":1}`, found: 1},
		{name: "with a later field", value: `{"format":1,"note":"x"}`, found: 1},
		{name: "newer", value: `{"format":3}`, found: 3, err: ErrFormatTooNew,
			errMsg: "storage: data directory format 3, this binary reads format 1; use a newer cairn"},
		{name: "zero", value: `{"format":0}`, err: ErrCorrupt},
		{name: "missing", value: `{}`, err: ErrCorrupt},
		{name: "negative", value: `{"format":-1}`, err: ErrCorrupt},
		{name: "trailing", value: `{"format":1} {}`, err: ErrCorrupt},
		{name: "not JSON", value: "\x01", err: ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewMem()
			if tc.value != "" {
				commit(t, s, true, func(b Batch) { mustSet(t, b, string(FormatKey), tc.value) })
			}
			found, err := CheckFormat(s)
			if found != tc.found || !errors.Is(err, tc.err) {
				t.Fatalf("CheckFormat = %d, %v; want %d, %v", found, err, tc.found, tc.err)
			}
			if tc.errMsg != "" && err.Error() != tc.errMsg {
				t.Fatalf("error %q, want %q", err, tc.errMsg)
			}
		})
	}
}

func TestSetFormat(t *testing.T) {
	s := NewMem()
	commit(t, s, true, func(b Batch) {
		if err := SetFormat(b); err != nil {
			t.Fatal(err)
		}
	})
	wantGet(t, s, "/n/format", `{"format":1}`)
	if found, err := CheckFormat(s); found != FormatVersion || err != nil {
		t.Fatalf("CheckFormat = %d, %v", found, err)
	}
}
