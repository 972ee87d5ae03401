// Package telemetry defines entityconn's Prometheus metrics. Each process builds one
// [Metrics] on its own registry (tests run several services in one process).
package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors entityconn updates. A nil *Metrics is valid and records nothing,
// so that code paths need no checks. Safe for concurrent use.
type Metrics struct {
	Registry *prometheus.Registry

	commands        *prometheus.CounterVec
	commandDuration *prometheus.HistogramVec
	projectorLag    prometheus.Histogram
	projectorSeq    prometheus.Gauge
	projectorBehind prometheus.Gauge
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	expired         prometheus.Counter
}

// New returns metrics registered on a fresh registry that also holds the Go and process
// collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: reg,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "entityconn_commands_total",
			Help: "Commands handled, by command and outcome (ok, or the error category: permission, authentication, invalid, missing, rule_violation, not_found, conflict, error).",
		}, []string{"command", "outcome"}),
		commandDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "entityconn_command_duration_seconds",
			Help:    "Time from a command's arrival at the decider to its outcome.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"command"}),
		projectorLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "entityconn_projector_lag_seconds",
			Help:    "Time from an event's occurrence to its views being written.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30},
		}),
		projectorSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "entityconn_projector_sequence",
			Help: "Stream sequence of the last event this process projected.",
		}),
		projectorBehind: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "entityconn_projector_pending_events",
			Help: "Events stored but not yet projected, as of the last event this process projected.",
		}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "entityconn_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "entityconn_http_request_duration_seconds",
			Help:    "HTTP request duration by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5},
		}, []string{"route"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "entityconn_expired_total",
			Help: "Pending requests this process expired.",
		}),
	}
	reg.MustRegister(m.commands, m.commandDuration, m.projectorLag, m.projectorSeq, m.projectorBehind, m.httpRequests, m.httpDuration, m.expired)
	return m
}

// Command records one command's outcome and duration.
func (m *Metrics) Command(name, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.commands.WithLabelValues(name, outcome).Inc()
	m.commandDuration.WithLabelValues(name).Observe(d.Seconds())
}

// Projected records that the event at seq, which occurred at occurred, is in the views, with
// pending events still to project.
func (m *Metrics) Projected(seq uint64, occurred time.Time, pending uint64) {
	if m == nil {
		return
	}
	m.projectorLag.Observe(time.Since(occurred).Seconds())
	m.projectorSeq.Set(float64(seq))
	m.projectorBehind.Set(float64(pending))
}

// ListIndex exports the stream sequence up to which the list index of this process has read
// the events (entityconn_list_index_sequence), as seq reports it.
func (m *Metrics) ListIndex(seq func() uint64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "entityconn_list_index_sequence",
		Help: "Stream sequence up to which this process's list index has read the events.",
	}, func() float64 { return float64(seq()) }))
}

// HTTP records one HTTP request.
func (m *Metrics) HTTP(route, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, code).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// Expired records one expiry.
func (m *Metrics) Expired() {
	if m == nil {
		return
	}
	m.expired.Inc()
}
