package logstore

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// readFile and writeFile edit a MemFS file in place, as a disk fault would.
func readFile(t tb, fs vfs.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := readAll(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t tb, fs vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// frames returns the offsets of the frames of a segment's bytes.
func frames(t tb, id uint64, data []byte) []int {
	t.Helper()
	var offs []int
	for off := segHeaderLen; off < len(data); {
		_, _, end, reason := frameAt(id, data, off)
		if reason != "" {
			t.Fatalf("frame at %d: %s", off, reason)
		}
		offs = append(offs, off)
		off = end
	}
	return offs
}

// threeFrames is a log whose segment 1 holds three frames of group 1, each
// synced, then the store closed without starting anything else (the
// active segment after Open is segment 2, so segment 1 is read back as a
// segment followed by others; abandon keeps it last when lastSeg is set).
func threeFrames(t *testing.T, lastSeg bool) (vfs.FS, string, []int) {
	fs := vfs.NewMem()
	s := open(t, fs, Options{})
	for i, v := range []string{"one", "two", strings.Repeat("three", 100)} {
		write(t, s, true, func(b *Batch) { appendVals(b, 1, uint64(i+1), v) })
	}
	s.abandon()
	name := "log/" + segName(1)
	if !lastSeg {
		s = open(t, fs, Options{}) // starts segment 2
		s.abandon()
	}
	return fs, name, frames(t, 1, readFile(t, fs, name))
}

func wantCorrupt(t *testing.T, fs vfs.FS, file string, offset int) {
	t.Helper()
	_, err := Open("log", Options{FS: fs})
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want a *CorruptError", err)
	}
	if ce.File != file || ce.Offset != int64(offset) {
		t.Fatalf("Open: %v: names %s at %d, want %s at %d", err, ce.File, ce.Offset, file, offset)
	}
}

// A damaged frame before the last synced offset stops the node, naming the
// file and offset.
func TestCorruptBeforeSyncedOffset(t *testing.T) {
	fs, name, offs := threeFrames(t, true)
	data := readFile(t, fs, name)
	data[offs[1]+frameHeaderLen+2] ^= 1 // the second frame's body
	writeFile(t, fs, name, data)
	wantCorrupt(t, fs, name, offs[1])
}

// A damaged frame in a segment followed by others stops the node, even
// its last frame.
func TestCorruptInOlderSegment(t *testing.T) {
	fs, name, offs := threeFrames(t, false)
	data := readFile(t, fs, name)
	data[len(data)-1] ^= 1
	writeFile(t, fs, name, data)
	wantCorrupt(t, fs, name, offs[2])
}

// The last frame of the log, though nothing records it synced, fails
// open when it was written whole: bit rot, not a torn write.
func TestCorruptLastFrameWrittenWhole(t *testing.T) {
	fs, name, offs := threeFrames(t, true)
	data := readFile(t, fs, name)
	data[len(data)-3] ^= 0x40
	writeFile(t, fs, name, data)
	wantCorrupt(t, fs, name, offs[2])
}

// A torn tail — the last frame cut short, or a sector of it never
// written — is dropped, and the log goes on after it.
func TestTornTailDropped(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(data []byte, off int) []byte
	}{
		{"cut short", func(data []byte, off int) []byte { return data[:len(data)-7] }},
		{"header cut short", func(data []byte, off int) []byte { return data[:off+5] }},
		{"a blank sector", func(data []byte, off int) []byte {
			s := (off/sectorSize + 1) * sectorSize
			clear(data[s:min(s+sectorSize, len(data))])
			return data
		}},
		{"zeros after it", func(data []byte, off int) []byte { clear(data[off:]); return append(data, make([]byte, 4096)...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, name, offs := threeFrames(t, true)
			data := readFile(t, fs, name)
			writeFile(t, fs, name, tc.tear(data, offs[2]))
			s := open(t, fs, Options{})
			wantLog(t, s, 1, 1, 2, "1=one", "2=two")
			write(t, s, true, func(b *Batch) { appendVals(b, 1, 3, "three again") })
			s = reopen(t, s, fs, Options{})
			defer s.Close()
			wantLog(t, s, 1, 1, 3, "1=one", "2=two", "3=three again")
		})
	}
}

// A segment whose header never became durable (a crash while rotating) is
// removed; the log before it is intact.
func TestTornSegmentHeader(t *testing.T) {
	for _, header := range [][]byte{nil, make([]byte, 10), make([]byte, segHeaderLen+100)} {
		fs, _, _ := threeFrames(t, true)
		writeFile(t, fs, "log/"+segName(2), header)
		s := open(t, fs, Options{})
		wantLog(t, s, 1, 1, 3, "1=one", "2=two", "3="+strings.Repeat("three", 100))
		s.Close()
	}
}

// A blank header in a segment followed by others is damage, not a torn
// rotation.
func TestBlankHeaderInMiddle(t *testing.T) {
	fs, _, _ := threeFrames(t, false)
	s := open(t, fs, Options{}) // segment 3
	s.abandon()
	writeFile(t, fs, "log/"+segName(2), make([]byte, segHeaderLen))
	wantCorrupt(t, fs, "log/"+segName(2), 0)
}

func TestMissingSegment(t *testing.T) {
	fs, _, _ := threeFrames(t, false)
	s := open(t, fs, Options{}) // segment 3
	s.abandon()
	if err := fs.Remove("log/" + segName(2)); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, fs, "log/"+segName(2), 0)
}

// A directory in another format is refused with a message naming what
// was found.
func TestUnknownFormat(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(fs vfs.FS)
	}{
		{"another store's file", `log/MANIFEST-000001: found a file that is not a log segment`, func(fs vfs.FS) { writeFile(t, fs, "log/MANIFEST-000001", []byte("x")) }},
		{"not a segment", `found magic "PEBBLE!!"`, func(fs vfs.FS) {
			writeFile(t, fs, "log/"+segName(1), append([]byte("PEBBLE!!"), make([]byte, 100)...))
		}},
		{"a newer format", "found log segment format 2", func(fs vfs.FS) {
			data := readFile(t, fs, "log/"+segName(1))
			data[8] = 2
			binary.LittleEndian.PutUint32(data[12:], segHeaderCRC(data))
			writeFile(t, fs, "log/"+segName(1), data)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, _, _ := threeFrames(t, true)
			tc.edit(fs)
			_, err := Open("log", Options{FS: fs})
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want a format error saying %q", err, tc.want)
			}
		})
	}
}

// Two processes never share a log.
func TestLocked(t *testing.T) {
	fs := vfs.NewMem()
	s := open(t, fs, Options{})
	defer s.Close()
	if _, err := Open("log", Options{FS: fs}); err == nil {
		t.Fatal("a second Open of a log in use succeeded")
	}
}
