package oauth

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the OAuth endpoints' Prometheus metrics. Failure reasons are
// precise here and generic on the wire.
type Metrics struct {
	tokens       *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	ccSuccess    prometheus.Counter // pre-resolved: the hot path
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchword_token_requests_total",
			Help: "Token endpoint requests by grant type and outcome.",
		}, []string{"grant_type", "outcome"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchword_client_auth_failures_total",
			Help: "Failed client authentications by internal reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "watchword_oauth_request_duration_seconds",
			Help:    "Latency of OAuth endpoint requests.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"endpoint"}),
	}
	reg.MustRegister(m.tokens, m.authFailures, m.latency)
	m.ccSuccess = m.tokens.WithLabelValues("client_credentials", "success")
	return m
}

func (m *Metrics) token(grant, outcome string) {
	if grant == "client_credentials" && outcome == "success" {
		m.ccSuccess.Inc()
		return
	}
	m.tokens.WithLabelValues(grant, outcome).Inc()
}

func (m *Metrics) authFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }
