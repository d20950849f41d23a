package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/apitest"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []api.Cursor{
		{Partition: 0, Key: []byte{}}, {Partition: 7, Key: []byte("user/1")},
		{Partition: 300, Key: []byte{0, 0xff}}, {Partition: 999, Key: bytes.Repeat([]byte{0xff}, 100)},
	} {
		s := c.String()
		if strings.ContainsAny(s, "+/=") {
			t.Errorf("cursor %q is not base64url without padding", s)
		}
		got, err := api.ParseCursor(s, 1000, 100)
		if err != nil || got.Partition != c.Partition || !bytes.Equal(got.Key, c.Key) {
			t.Errorf("round trip of %+v: %+v, %v", c, got, err)
		}
	}
}

func TestParseCursorRefuses(t *testing.T) {
	for name, s := range map[string]string{
		"empty":               "",
		"not base64":          "***",
		"padded base64":       base64.URLEncoding.EncodeToString([]byte{1, 0, 0, 0}),
		"wrong version":       base64.RawURLEncoding.EncodeToString([]byte{2, 0}),
		"partition >= P":      api.Cursor{Partition: 8}.String(),
		"partition overflows": "AYCAgICAgICAgIAB",
		"truncated partition": base64.RawURLEncoding.EncodeToString([]byte{1, 0x80}),
		"no partition":        "AQ",
		"key too long":        api.Cursor{Partition: 1, Key: []byte("123456789")}.String(),
		"much too long":       strings.Repeat("A", 1<<20),
		"a Redis cursor":      "17",
	} {
		c, err := api.ParseCursor(s, 8, 8)
		if err == nil {
			t.Errorf("%s: %q decoded to %+v", name, s, c)
			continue
		}
		if !errors.Is(err, api.ErrCursor) || api.OutcomeOf(err) != api.Invalid {
			t.Errorf("%s: %v is not ErrCursor, or not Invalid", name, err)
		}
	}
}

// FuzzParseCursor: a cursor comes from the network; parsing never panics,
// and what parses re-encodes to a cursor that parses the same.
func FuzzParseCursor(f *testing.F) {
	f.Add("")
	f.Add(api.Cursor{Partition: 3, Key: []byte("user/42")}.String())
	f.Add(api.Cursor{Partition: 1 << 20}.String())
	f.Add("AYCAgICAgICAgIAB")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := api.ParseCursor(s, 64, 64)
		if err != nil {
			if !errors.Is(err, api.ErrCursor) {
				t.Fatalf("error %v is not ErrCursor", err)
			}
			return
		}
		if c.Partition < 0 || c.Partition >= 64 || len(c.Key) > 64 {
			t.Fatalf("cursor %+v out of bounds", c)
		}
		again, err := api.ParseCursor(c.String(), 64, 64)
		if err != nil || again.Partition != c.Partition || !bytes.Equal(again.Key, c.Key) {
			t.Fatalf("re-encoding %q: %+v %v, want %+v", s, again, err, c)
		}
	})
}

// countingBackend counts reads and the partitions they went to.
type countingBackend struct {
	*apitest.Backend
	reads []int
}

func (b *countingBackend) Read(ctx context.Context, p int, mode replica.ReadMode, q kv.Query) (kv.Reply, error) {
	b.reads = append(b.reads, p)
	return b.Backend.Read(ctx, p, mode, q)
}

func fill(t *testing.T, b api.Backend, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := b.Propose(context.Background(), b.Partition([]byte(k)), kv.NewCommand(kv.Put([]byte(k), []byte("v-"+k)))); err != nil {
			t.Fatal(err)
		}
	}
}

// walk scans s to the end page by page, passing each cursor through its
// string form, and returns the keys in order and the number of pages.
func walk(t *testing.T, b api.Backend, s api.Scan) (keys []string, pages int) {
	t.Helper()
	cur := api.Cursor{}
	for {
		pages++
		if pages > 1000 {
			t.Fatal("the scan does not end")
		}
		page, err := api.ScanPage(context.Background(), b, s, cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			keys = append(keys, string(it.Key))
		}
		if page.Done {
			return keys, pages
		}
		if cur, err = api.ParseCursor(page.Next.String(), b.Partitions(), 1<<10); err != nil {
			t.Fatal(err)
		}
	}
}

func TestScanPageWalksEveryKeyOnce(t *testing.T) {
	b := apitest.New(8)
	var all []string
	for i := range 200 {
		all = append(all, fmt.Sprintf("key/%03d", i))
	}
	fill(t, b, all...)
	fill(t, b, "other/1", "other/2")
	for _, tc := range []struct {
		name string
		s    api.Scan
		want int
	}{
		{"prefix", api.Scan{Start: []byte("key/"), End: kv.PrefixEnd([]byte("key/")), Limit: 7}, 200},
		{"everything", api.Scan{Limit: 13}, 202},
		{"limit 1", api.Scan{Start: []byte("key/"), End: kv.PrefixEnd([]byte("key/")), Limit: 1}, 200},
		{"big pages", api.Scan{Limit: 1000}, 202},
		{"match", api.Scan{Limit: 10, Match: []byte("key/1?0"), KeysOnly: true}, 10},
		{"range", api.Scan{Start: []byte("key/050"), End: []byte("key/100"), Limit: 9}, 50},
		{"byte budget", api.Scan{Limit: 1000, PageBytes: 100}, 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, _ := walk(t, b, tc.s)
			seen := map[string]bool{}
			for _, k := range keys {
				if seen[k] {
					t.Fatalf("key %s twice", k)
				}
				seen[k] = true
				if tc.s.Match != nil && !kv.Match(tc.s.Match, []byte(k)) {
					t.Fatalf("key %s does not match", k)
				}
			}
			if len(seen) != tc.want {
				t.Fatalf("%d keys, want %d", len(seen), tc.want)
			}
		})
	}
}

func TestScanPageShape(t *testing.T) {
	b := &countingBackend{Backend: apitest.New(4)}
	fill(t, b, "a", "b", "c", "d", "e", "f", "g", "h")
	ctx := context.Background()
	t.Run("a full page holds limit items", func(t *testing.T) {
		page, err := api.ScanPage(ctx, b, api.Scan{Limit: 3}, api.Cursor{})
		if err != nil || len(page.Items) != 3 || page.Done {
			t.Fatalf("page %+v, %v", page, err)
		}
	})
	t.Run("one read per partition", func(t *testing.T) {
		b.reads = nil
		page, err := api.ScanPage(ctx, b, api.Scan{Limit: 100}, api.Cursor{})
		if err != nil || len(page.Items) != 8 || !page.Done {
			t.Fatalf("page %+v, %v", page, err)
		}
		if fmt.Sprint(b.reads) != "[0 1 2 3]" {
			t.Fatalf("reads of partitions %v, want one each in order", b.reads)
		}
	})
	t.Run("the byte budget keeps one item", func(t *testing.T) {
		page, err := api.ScanPage(ctx, b, api.Scan{Limit: 100, PageBytes: 1}, api.Cursor{})
		if err != nil || len(page.Items) != 1 || page.Done {
			t.Fatalf("page %+v, %v", page, err)
		}
	})
	t.Run("an empty range is done", func(t *testing.T) {
		page, err := api.ScanPage(ctx, b, api.Scan{Start: []byte("z"), End: []byte("a"), Limit: 100}, api.Cursor{})
		if err != nil || len(page.Items) != 0 || !page.Done {
			t.Fatalf("page %+v, %v", page, err)
		}
	})
	t.Run("bad limit and partition", func(t *testing.T) {
		if _, err := api.ScanPage(ctx, b, api.Scan{Limit: 0}, api.Cursor{}); api.OutcomeOf(err) != api.Invalid {
			t.Fatalf("limit 0: %v", err)
		}
		if _, err := api.ScanPage(ctx, b, api.Scan{Limit: 1}, api.Cursor{Partition: 4}); !errors.Is(err, api.ErrCursor) {
			t.Fatalf("partition 4 of 4: %v", err)
		}
	})
	t.Run("a failed read fails the page", func(t *testing.T) {
		f := &failing{Backend: b.Backend, err: replica.ErrNotApplied}
		if _, err := api.ScanPage(ctx, f, api.Scan{Limit: 10}, api.Cursor{}); !errors.Is(err, replica.ErrNotApplied) {
			t.Fatalf("got %v", err)
		}
	})
}

type failing struct {
	*apitest.Backend
	err error
}

func (f *failing) Read(context.Context, int, replica.ReadMode, kv.Query) (kv.Reply, error) {
	return kv.Reply{}, f.err
}
