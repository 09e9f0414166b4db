// Command chart draws the load results as an SVG bar chart (ours against
// scs, per store and scenario, pinned and shared), the picture README
// embeds. From the committed figures, those of README's Performance table
// (run in bench/):
//
//	go run ./cmd/chart                    # ../docs/load-figures.json → ../docs/load.svg
//
// From new runs of cmd/load (each writes results.json in its -out
// directory), keeping their figures for the next time:
//
//	go run ./cmd/load -scenarios read,rmw -server-cpus 0 -wrk-cpus 1 -rounds 3 -out /tmp/pinned
//	go run ./cmd/load -rounds 3 -out /tmp/shared
//	go run ./cmd/chart -pinned /tmp/pinned/results.json -shared /tmp/shared/results.json -save-figures ../docs/load-figures.json
//
// Exit codes: 0, 2 for a bad flag, 1 for a file that cannot be read or
// written.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/stateless-go/stateless/bench/internal/chart"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	figures := fs.String("figures", "../docs/load-figures.json", "figures `file` to draw, when neither -pinned nor -shared is given")
	pinned := fs.String("pinned", "", "cmd/load's results.json of the pinned run (-server-cpus 0 -wrk-cpus 1)")
	shared := fs.String("shared", "", "cmd/load's results.json of the shared run (no pinning)")
	save := fs.String("save-figures", "", "also write the figures drawn to this `file` (JSON), for drawing them again without a run")
	title := fs.String("title", "Requests per second: stateless vs scs", "the chart's title, for -pinned and -shared")
	subtitle := fs.String("subtitle", "wrk -t2 -c32, 200 sessions, medians of the rounds", "a line under the title, for -pinned and -shared (the date, the machine)")
	out := fs.String("o", "../docs/load.svg", "the SVG `file` to write")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chart: unexpected argument %q (see -h)\n", fs.Arg(0))
		return 2
	}

	var f *chart.Figures
	if *pinned == "" && *shared == "" {
		r, err := os.Open(*figures)
		if err != nil {
			fmt.Fprintln(stderr, "chart:", err)
			return 1
		}
		f, err = chart.ReadFigures(r)
		r.Close()
		if err != nil {
			fmt.Fprintf(stderr, "chart: %s: %v\n", *figures, err)
			return 1
		}
	} else {
		f = &chart.Figures{Title: *title, Subtitle: *subtitle}
		for _, p := range []struct{ name, path, note string }{
			{"pinned", *pinned, "server on one core, wrk on the other"},
			{"shared", *shared, "servers and wrk share both cores"},
		} {
			if p.path == "" {
				continue
			}
			r, err := os.Open(p.path)
			if err != nil {
				fmt.Fprintln(stderr, "chart:", err)
				return 1
			}
			pl, err := chart.FromResults(r, p.name)
			r.Close()
			if err != nil {
				fmt.Fprintf(stderr, "chart: %s: %v\n", p.path, err)
				return 1
			}
			pl.Note = p.note
			f.Placements = append(f.Placements, pl)
		}
	}
	svg, err := chart.SVG(f)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := os.WriteFile(*out, svg, 0o644); err != nil {
		fmt.Fprintln(stderr, "chart:", err)
		return 1
	}
	fmt.Fprintf(stderr, "chart: wrote %s (%d bytes)\n", *out, len(svg))
	if *save != "" {
		b, err := chart.MarshalFigures(f)
		if err == nil {
			err = os.WriteFile(*save, b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "chart:", err)
			return 1
		}
		fmt.Fprintf(stderr, "chart: wrote %s\n", *save)
	}
	return 0
}
