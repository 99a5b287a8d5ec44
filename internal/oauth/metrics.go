package oauth

import (
	"net/http"
	"time"

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
		}, []string{"grant_type", "outcome"}), // outcome: success, invalid_client, throttled, rejected, server_error
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

// observe records one request to endpoint; for the token endpoint also its
// grant type and outcome (the status, as the outcome says no more than the
// response already did).
func (m *Metrics) observe(endpoint, grant string, status int, d time.Duration) {
	m.latency.WithLabelValues(endpoint).Observe(d.Seconds())
	if endpoint != "/oauth/token" {
		return
	}
	if grant == "client_credentials" && status == http.StatusOK {
		m.ccSuccess.Inc()
		return
	}
	switch grant {
	case "client_credentials", "authorization_code", "refresh_token":
	default:
		grant = "other"
	}
	m.tokens.WithLabelValues(grant, outcome(status)).Inc()
}

func outcome(status int) string {
	switch status {
	case http.StatusOK:
		return "success"
	case http.StatusUnauthorized:
		return "invalid_client"
	case http.StatusTooManyRequests:
		return "throttled"
	}
	if status >= 500 {
		return "server_error"
	}
	return "rejected"
}

func (m *Metrics) authFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }
