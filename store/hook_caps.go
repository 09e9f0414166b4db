// The sixteen combinations of the four optional capabilities, one struct
// type each: a wrapper offers exactly what its store offers.

package store

// withCaps returns w with the capabilities of its store: one struct type
// per combination, so that a type assertion finds exactly those.
func withCaps(w *hooked) Store {
	cad, isCAD := w.s.(CompareAndDeleter)
	cog, isCOG := w.s.(CreateOrGetter)
	sr, isSR := w.s.(StatsReporter)
	_, isNB := w.s.(NonBlocking)
	c, g, st := hookedCAD{w, cad}, hookedCOG{w, cog}, hookedStats{sr}
	switch {
	case isCAD && isCOG && isSR && isNB:
		return &struct {
			*hooked
			hookedCAD
			hookedCOG
			hookedStats
			nonBlocking
		}{w, c, g, st, nonBlocking{}}
	case isCAD && isCOG && isSR:
		return &struct {
			*hooked
			hookedCAD
			hookedCOG
			hookedStats
		}{w, c, g, st}
	case isCAD && isCOG && isNB:
		return &struct {
			*hooked
			hookedCAD
			hookedCOG
			nonBlocking
		}{w, c, g, nonBlocking{}}
	case isCAD && isCOG:
		return &struct {
			*hooked
			hookedCAD
			hookedCOG
		}{w, c, g}
	case isCAD && isSR && isNB:
		return &struct {
			*hooked
			hookedCAD
			hookedStats
			nonBlocking
		}{w, c, st, nonBlocking{}}
	case isCAD && isSR:
		return &struct {
			*hooked
			hookedCAD
			hookedStats
		}{w, c, st}
	case isCAD && isNB:
		return &struct {
			*hooked
			hookedCAD
			nonBlocking
		}{w, c, nonBlocking{}}
	case isCAD:
		return &struct {
			*hooked
			hookedCAD
		}{w, c}
	case isCOG && isSR && isNB:
		return &struct {
			*hooked
			hookedCOG
			hookedStats
			nonBlocking
		}{w, g, st, nonBlocking{}}
	case isCOG && isSR:
		return &struct {
			*hooked
			hookedCOG
			hookedStats
		}{w, g, st}
	case isCOG && isNB:
		return &struct {
			*hooked
			hookedCOG
			nonBlocking
		}{w, g, nonBlocking{}}
	case isCOG:
		return &struct {
			*hooked
			hookedCOG
		}{w, g}
	case isSR && isNB:
		return &struct {
			*hooked
			hookedStats
			nonBlocking
		}{w, st, nonBlocking{}}
	case isSR:
		return &struct {
			*hooked
			hookedStats
		}{w, st}
	case isNB:
		return &struct {
			*hooked
			nonBlocking
		}{w, nonBlocking{}}
	}
	return w
}
