package auth

import (
	"fmt"
	"testing"
	"time"

	"github.com/stateless-go/stateless/store/memory"
)

// BenchmarkRevokedFresh measures what revocation costs a request while
// the local view is fresh: three SHA-256 sums and three map lookups, no
// store read. The list holds 10,000 entries of each kind.
func BenchmarkRevokedFresh(b *testing.B) {
	st := memory.New(nil)
	r := revNew(b, st, nil)
	const n = 10_000
	now := time.Now()
	for i := range n {
		// Straight into the local view: the store's contents do not
		// matter to a fresh lookup, and 30,000 shared writes would be slow.
		for k, id := range []string{fmt.Sprintf("sid-%d", i), fmt.Sprintf("jti-%d", i), fmt.Sprintf("user-%d", i)} {
			h := revSum(id)
			e := revEntry{until: now.Add(time.Hour).UnixNano()}
			if revKind(k) == revSubject {
				e.before = now.UnixNano()
			}
			if err := r.applyLocal(revShardOf(&h), revKind(k), h, e); err != nil {
				b.Fatal(err)
			}
		}
	}
	// A typical live token: a 43-byte random sid and jti, a UUID subject.
	live := RevocationSubject{
		Subject:  "8c0f4a0e-5d7e-4f5c-9d55-2b1f0e6a7c31",
		SID:      "Qm9ndXMtc2Vzc2lvbi1pZC1mb3ItYmVuY2htYXJraW5n",
		JTI:      "dG9rZW4taWQtZm9yLWJlbmNobWFya2luZy0xMjM0NTY3",
		IssuedAt: now,
	}
	revoked := RevocationSubject{Subject: "user-77", SID: "sid-5", JTI: "jti-9", IssuedAt: now.Add(-time.Minute)}
	ctx := b.Context()
	for _, c := range []struct {
		name string
		s    RevocationSubject
		want bool
	}{{"live", live, false}, {"revoked", revoked, true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ok, err := r.Revoked(ctx, c.s)
				if err != nil || ok != c.want {
					b.Fatalf("Revoked = %v, %v", ok, err)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ok, err := r.Revoked(ctx, c.s)
					if err != nil || ok != c.want {
						b.Errorf("Revoked = %v, %v", ok, err)
						return
					}
				}
			})
		})
	}
}
