package prom

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Sample returns the value of the sample name{labels} in a text
// exposition (what a scrape of MetricsHandler returns), for tests and
// tools: labels is written as in the exposition, `a="x",b="y"`, in its
// order, or "" for a sample without labels.
func Sample(exposition, name, labels string) (float64, error) {
	want := name
	if labels != "" {
		want += "{" + labels + "}"
	}
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, want+" "); ok {
			return strconv.ParseFloat(strings.Fields(rest)[0], 64)
		}
	}
	return 0, fmt.Errorf("no sample %s", want)
}
