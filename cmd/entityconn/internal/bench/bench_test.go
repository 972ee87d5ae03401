package bench

import "testing"

func TestPairOfNeverRepeatsNorPairsAnEntityWithItself(t *testing.T) {
	const e = 7
	seen := map[[2]string]int{}
	for k := range e * (e - 1) {
		src, tgt := pairOf(k, e)
		if src == tgt {
			t.Errorf("pairOf(%d, %d) = %s, %s: an entity with itself", k, e, src, tgt)
		}
		if prev, ok := seen[[2]string{src, tgt}]; ok {
			t.Errorf("pairOf(%d, %d) = %s, %s, as pairOf(%d, %d)", k, e, src, tgt, prev, e)
		}
		seen[[2]string{src, tgt}] = k
	}
}

func TestPairsAfterContinuesPairOf(t *testing.T) {
	next := pairsAfter(7, 5)
	for k := 5; k < 10; k++ {
		src, tgt := next()
		if wantSrc, wantTgt := pairOf(k, 7); src != wantSrc || tgt != wantTgt {
			t.Errorf("pair %d = %s, %s, want pairOf(%d, 7) = %s, %s", k, src, tgt, k, wantSrc, wantTgt)
		}
	}
}
