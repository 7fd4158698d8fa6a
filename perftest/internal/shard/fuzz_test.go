package shard

import (
	"bytes"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// FuzzDecode holds the shard-result reader to its contract on any file: no
// panic, no allocation past the caps, and a result it accepts is valid and
// reads back the same after Encode.
func FuzzDecode(f *testing.F) {
	for _, r := range []Result{sample(0, 1), sample(1, 3), sample(2, 3)} {
		var b bytes.Buffer
		if err := Encode(&b, r); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	wide := sample(0, 2)
	wide.Latency = Histogram{Histogram: hdrhistogram.New(1, 1<<40, 5)}
	var b bytes.Buffer
	if err := Encode(&b, wide); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"version": 1, "shard": {"index": 0, "count": 4611686018427387904}}`))
	f.Add([]byte(`{"version": 1, "latency": "HISTFAAAACl4nJNpmSzMwMDAxQABzFCaEUzOmN1g/wEiyPQJAAAAAP//AQAA//8="}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid result: %v", err)
		}
		var out bytes.Buffer
		if err := Encode(&out, r); err != nil {
			t.Fatalf("an accepted result does not encode: %v", err)
		}
		if _, err := Decode(&out); err != nil {
			t.Fatalf("an accepted result does not read back: %v", err)
		}
	})
}
