package prom

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stateless-go/stateless/store"
)

// statsCollector reads the watched stores' Stats at scrape time: a
// snapshot, cheap and without network (the StatsReporter contract).
type statsCollector struct {
	mu     sync.Mutex
	stores map[string]store.StatsReporter
	descs  []statDesc
}

type statDesc struct {
	d     *prometheus.Desc
	typ   prometheus.ValueType
	value func(*store.Stats) float64
}

func newStatsCollector(ns string) *statsCollector {
	c := &statsCollector{stores: map[string]store.StatsReporter{}}
	add := func(name, help string, typ prometheus.ValueType, v func(*store.Stats) float64) {
		c.descs = append(c.descs, statDesc{
			d:   prometheus.NewDesc(prometheus.BuildFQName(ns, "store_adapter", name), help, []string{"backend"}, nil),
			typ: typ, value: v,
		})
	}
	cnt, gauge := prometheus.CounterValue, prometheus.GaugeValue
	add("calls_total", "Calls the adapter received (its own count, all operations).", cnt, func(s *store.Stats) float64 {
		return float64(s.Gets + s.Creates + s.Replaces + s.Touches + s.Deletes)
	})
	add("errors_total", "Calls that failed for a reason other than the contract's answers.", cnt, func(s *store.Stats) float64 { return float64(s.Errors) })
	add("batches_total", "Round trips that carried more than one call.", cnt, func(s *store.Stats) float64 { return float64(s.Batches) })
	add("batched_calls_total", "Calls carried by batches; divided by batches_total, the mean batch size.", cnt, func(s *store.Stats) float64 { return float64(s.BatchedCalls) })
	add("batch_fallbacks_total", "Batches the server refused, whose calls went one by one.", cnt, func(s *store.Stats) float64 { return float64(s.BatchFallbacks) })
	add("queued_calls", "Calls waiting now for a pipeline, batch or connection slot.", gauge, func(s *store.Stats) float64 { return float64(s.Queued) })
	add("in_flight_calls", "Calls out on the backend now.", gauge, func(s *store.Stats) float64 { return float64(s.InFlight) })
	add("connections", "Connections open now.", gauge, func(s *store.Stats) float64 { return float64(s.Conns) })
	add("idle_connections", "Open connections that are idle now.", gauge, func(s *store.Stats) float64 { return float64(s.IdleConns) })
	add("entries", "Records an in-process store holds.", gauge, func(s *store.Stats) float64 { return float64(s.Entries) })
	add("bytes", "Bytes an in-process store counts for its records.", gauge, func(s *store.Stats) float64 { return float64(s.Bytes) })
	add("evictions_total", "Live records dropped to stay within bounds.", cnt, func(s *store.Stats) float64 { return float64(s.Evictions) })
	add("reaps_total", "Statements that removed expired records.", cnt, func(s *store.Stats) float64 { return float64(s.Reaps) })
	return c
}

func (c *statsCollector) watch(backend string, sr store.StatsReporter) {
	c.mu.Lock()
	c.stores[backend] = sr
	c.mu.Unlock()
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d.d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for backend, sr := range c.stores {
		st := sr.Stats()
		for _, d := range c.descs {
			ch <- prometheus.MustNewConstMetric(d.d, d.typ, d.value(&st), backend)
		}
	}
}
