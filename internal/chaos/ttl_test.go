package chaos

import (
	"strings"
	"testing"
)

func ttlPut(key, v string, ttl, call, ret int64) Op {
	return Op{Kind: TTLPut, Key: key, Input: Input{Value: v, TTL: ttl}, Call: call, Return: ret, Outcome: OK}
}

func ttlGet(key, v string, call, ret int64) Op {
	return Op{Kind: TTLGet, Key: key, Output: Output{Exists: true, Value: v}, Call: call, Return: ret, Outcome: OK}
}

func ttlAbsent(key string, call, ret int64) Op {
	return Op{Kind: TTLGet, Key: key, Call: call, Return: ret, Outcome: OK}
}

func TestCheckTTL(t *testing.T) {
	const skew = 10
	tests := []struct {
		name string
		h    []Op
		want []string // anomaly kinds, in order
	}{
		{"present then expired", []Op{
			ttlPut("k", "a", 100, 0, 5), ttlGet("k", "a", 10, 20), ttlAbsent("k", 200, 210),
		}, nil},
		{"absent before the first write", []Op{ttlAbsent("k", 0, 5), ttlPut("k", "a", 100, 10, 20)}, nil},
		{"absent while the write is in flight", []Op{ttlPut("k", "a", 100, 0, 50), ttlAbsent("k", 10, 20)}, nil},
		{"early expiry", []Op{
			ttlPut("k", "a", 100, 0, 5), ttlAbsent("k", 30, 40),
		}, []string{EarlyExpiry}},
		{"absent within the allowed skew", []Op{
			ttlPut("k", "a", 100, 0, 5), ttlAbsent("k", 80, 95), // earliest expiry 0+100-10 = 90
		}, nil},
		{"absent just before the allowed skew", []Op{
			ttlPut("k", "a", 100, 0, 5), ttlAbsent("k", 80, 89),
		}, []string{EarlyExpiry}},
		{"no ttl never expires", []Op{
			ttlPut("k", "a", 0, 0, 5), ttlAbsent("k", 1_000_000, 1_000_010),
		}, []string{EarlyExpiry}},
		{"a rewrite with a short ttl explains absence", []Op{
			ttlPut("k", "a", 1000, 0, 5), ttlPut("k", "b", 20, 10, 15), ttlAbsent("k", 30, 40),
		}, nil},
		{"a concurrent rewrite with a short ttl explains absence", []Op{
			ttlPut("k", "a", 1000, 0, 5), ttlPut("k", "b", 5, 10, 100), ttlAbsent("k", 30, 40),
		}, nil},
		{"an overwritten short ttl does not explain absence", []Op{
			ttlPut("k", "a", 5, 0, 5), ttlPut("k", "b", 1000, 10, 15), ttlAbsent("k", 30, 40),
		}, []string{EarlyExpiry}},
		{"a delete explains absence", []Op{
			ttlPut("k", "a", 1000, 0, 5), {Kind: Delete, Key: "k", Call: 10, Return: 15, Outcome: Indeterminate}, ttlAbsent("k", 30, 40),
		}, nil},
		{"a failed delete does not", []Op{
			ttlPut("k", "a", 1000, 0, 5), {Kind: Delete, Key: "k", Call: 10, Return: 15, Outcome: Failed}, ttlAbsent("k", 30, 40),
		}, []string{EarlyExpiry}},
		{"an indeterminate write does not make absence early", []Op{
			with(ttlPut("k", "a", 1000, 0, 5), Indeterminate), ttlAbsent("k", 30, 40),
		}, nil},
		{"resurrection", []Op{
			ttlPut("k", "a", 100, 0, 5), ttlAbsent("k", 200, 210), ttlGet("k", "a", 220, 230),
		}, []string{Resurrection}},
		{"present again after absent, the read overlapping the write", []Op{
			ttlPut("k", "a", 100, 0, 50), ttlAbsent("k", 10, 20), ttlGet("k", "a", 30, 40),
		}, nil},
		{"present again after a concurrent absent read", []Op{
			ttlPut("k", "a", 100, 0, 5), ttlAbsent("k", 200, 225), ttlGet("k", "a", 220, 230),
		}, nil},
		{"phantom value", []Op{ttlGet("k", "ghost", 0, 5)}, []string{PhantomValue}},
		{"value read before its write", []Op{ttlGet("k", "a", 0, 5), ttlPut("k", "a", 100, 10, 20)}, []string{PhantomValue}},
		{"failed write read", []Op{with(ttlPut("k", "a", 100, 0, 5), Failed), ttlGet("k", "a", 10, 20)}, []string{PhantomValue}},
		{"keys are separate", []Op{
			ttlPut("k", "a", 100, 0, 5), ttlPut("j", "a", 1, 0, 5), ttlAbsent("j", 30, 40), ttlGet("k", "a", 50, 60),
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := CheckTTL(tt.h, skew)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, a := range r.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("anomalies %+v, want %v", r.Anomalies, tt.want)
			}
			if (len(tt.want) == 0) != (r.Verdict == VerdictOk) {
				t.Errorf("verdict %s with %d anomalies", r.Verdict, len(r.Anomalies))
			}
		})
	}
}

func TestCheckTTLAnomalyDetail(t *testing.T) {
	h := []Op{ttlPut("k", "a", 100, 0, 5), ttlAbsent("k", 200, 210), ttlGet("k", "a", 220, 230), ttlAbsent("k", 231, 232)}
	r, err := CheckTTL(h, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Anomalies) != 1 {
		t.Fatalf("%+v", r.Anomalies)
	}
	a := r.Anomalies[0]
	if a.Read != 2 || a.Write != 0 || a.Prior != 1 || a.Key != "k" || a.Detail == "" {
		t.Errorf("%+v", a)
	}
	if c := r.Check("ttl"); c.Detail != "1 resurrection" || c.Verdict != VerdictIllegal || c.Ops != 4 {
		t.Errorf("check %+v", c)
	}
}

func TestCheckTTLErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		h    []Op
		skew int64
		want string
	}{
		"negative skew":   {nil, -1, "negative clock skew"},
		"negative ttl":    {[]Op{ttlPut("k", "a", -5, 0, 1)}, 0, "negative TTL"},
		"duplicate value": {[]Op{ttlPut("k", "a", 5, 0, 1), ttlPut("k", "a", 5, 2, 3)}, 0, "unique"},
		"set op":          {[]Op{add("a", OK, 0, 1)}, 0, "not a ttl operation"},
	} {
		if _, err := CheckTTL(tc.h, tc.skew); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
