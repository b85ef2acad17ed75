// Package telemetry holds the gateway's Prometheus metrics: requests by
// operation and outcome, latencies, store calls by backend and operation,
// loader batch sizes, breaker states and outbox lag. One Metrics value per
// process, served at /metrics.
package telemetry

import (
	"errors"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/codingbrain/gateway/stores"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sony/gobreaker/v2"
)

// Metrics is the gateway's metric set, on its own registry.
type Metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	storeCalls      *prometheus.CounterVec
	storeDuration   *prometheus.HistogramVec
	loaderBatch     *prometheus.HistogramVec
	breaker         *prometheus.GaugeVec
	outboxLag       prometheus.Gauge
	outboxPending   prometheus.Gauge
	outboxParked    prometheus.Gauge
	sharedFailures  *prometheus.CounterVec
	changesDropped  *prometheus.CounterVec

	mu         sync.Mutex
	operations map[string]struct{}
}

// New registers every metric (and the Go runtime and process collectors).
func New() *Metrics {
	m := &Metrics{
		registry:   prometheus.NewRegistry(),
		operations: map[string]struct{}{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_requests_total", Help: "GraphQL operations by operation name and outcome (ok, error).",
		}, []string{"operation", "outcome"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_request_duration_seconds", Help: "GraphQL operation latency by operation name.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation"}),
		storeCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_store_calls_total", Help: "Store calls by backend, operation and outcome (ok, not_found, conflict, invalid, unavailable, error).",
		}, []string{"backend", "operation", "outcome"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_store_call_duration_seconds", Help: "Store call latency by backend and operation.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"backend", "operation"}),
		loaderBatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_loader_batch_size", Help: "Keys per batched store call, by loader.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}, []string{"loader"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_breaker_state", Help: "Circuit breaker state by backend: 0 closed, 1 half-open, 2 open.",
		}, []string{"backend"}),
		outboxLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_outbox_lag_seconds", Help: "Age of the oldest outbox entry not yet indexed.",
		}),
		outboxPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_outbox_pending", Help: "Outbox entries waiting to be indexed.",
		}),
		outboxParked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_outbox_parked", Help: "Outbox entries parked because retrying cannot fix them (`gateway outbox status` says why; `gateway outbox retry` re-queues them).",
		}),
		sharedFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_shared_limits_failures_total", Help: "Calls to the limits shared in Valkey that failed, by limit (rate limit, live connections); the request then went on (fail open) or was refused (fail closed).",
		}, []string{"limit"}),
		changesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_changes_dropped_total", Help: "Change notifications of writes stored outside PostgreSQL (episodic) that were not sent, by reason (queue_full, send_failed); the writes stand.",
		}, []string{"reason"}),
	}
	m.registry.MustRegister(m.requests, m.requestDuration, m.storeCalls, m.storeDuration, m.loaderBatch, m.breaker, m.outboxLag, m.outboxPending, m.outboxParked, m.sharedFailures, m.changesDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Request records one GraphQL operation under its operation name. Names
// are client-chosen, so they are bounded: an anonymous operation is
// "anonymous", a malformed name or one beyond maxOperationNames distinct
// names is "other", and the label space stays small whatever clients send.
func (m *Metrics) Request(operation string, took time.Duration, failed bool) {
	operation = m.operationLabel(operation)
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	m.requests.WithLabelValues(operation, outcome).Inc()
	m.requestDuration.WithLabelValues(operation).Observe(took.Seconds())
}

const maxOperationNames = 500

var operationName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func (m *Metrics) operationLabel(name string) string {
	switch {
	case name == "":
		return "anonymous"
	case !operationName.MatchString(name):
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, seen := m.operations[name]; !seen {
		if len(m.operations) >= maxOperationNames {
			return "other"
		}
		m.operations[name] = struct{}{}
	}
	return name
}

// StoreCall records one guarded store call (it implements guarded.Observer).
func (m *Metrics) StoreCall(backend, operation string, took time.Duration, err error) {
	m.storeCalls.WithLabelValues(backend, operation, outcome(err)).Inc()
	m.storeDuration.WithLabelValues(backend, operation).Observe(took.Seconds())
}

// BreakerState records a breaker's new state (it implements guarded.Observer).
func (m *Metrics) BreakerState(backend string, s gobreaker.State) {
	m.breaker.WithLabelValues(backend).Set(float64(s))
}

// LoaderBatch records the size of one loader batch.
func (m *Metrics) LoaderBatch(loader string, keys int) {
	m.loaderBatch.WithLabelValues(loader).Observe(float64(keys))
}

// SharedLimitsFailure records a failed call to the shared limits.
func (m *Metrics) SharedLimitsFailure(limit string) {
	m.sharedFailures.WithLabelValues(limit).Inc()
}

// ChangeDropped counts a change notification that was not sent (it
// implements events.DropObserver).
func (m *Metrics) ChangeDropped(reason string) {
	m.changesDropped.WithLabelValues(reason).Inc()
}

// Outbox records the indexer's backlog.
func (m *Metrics) Outbox(backlog stores.OutboxBacklog) {
	m.outboxPending.Set(float64(backlog.Pending))
	m.outboxLag.Set(backlog.Oldest.Seconds())
	m.outboxParked.Set(float64(backlog.Parked))
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, stores.ErrNotFound):
		return "not_found"
	case errors.Is(err, stores.ErrConflict):
		return "conflict"
	case errors.Is(err, stores.ErrInvalid):
		return "invalid"
	case errors.Is(err, stores.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}
