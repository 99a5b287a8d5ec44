package lifecycle

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// SecretCollector exports, on each scrape, the number of secrets per domain
// and status. Status depends on the time, so it is counted at scrape time.
type SecretCollector struct {
	store store.Store
	now   func() time.Time
	desc  *prometheus.Desc
}

// NewSecretCollector returns the collector of watchword_secrets.
func NewSecretCollector(st store.Store, now func() time.Time) *SecretCollector {
	return &SecretCollector{store: st, now: now, desc: prometheus.NewDesc(
		"watchword_secrets", "Client secrets by domain and status.", []string{"domain", "status"}, nil)}
}

func (c *SecretCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *SecretCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	domains, err := c.store.ListDomains(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	now := c.now()
	for _, d := range domains {
		counts := map[string]float64{"active": 0, "retiring": 0, "expired": 0, "revoked": 0}
		for off := 0; ; off += store.MaxLimit {
			clients, _, err := c.store.ListClients(ctx, watchword.ClientFilter{DomainID: d.ID, Offset: off, Limit: store.MaxLimit})
			if err != nil {
				ch <- prometheus.NewInvalidMetric(c.desc, err)
				return
			}
			for _, cl := range clients {
				secrets, err := c.store.ListSecrets(ctx, cl.ID)
				if err != nil {
					ch <- prometheus.NewInvalidMetric(c.desc, err)
					return
				}
				for _, s := range secrets {
					counts[string(s.StatusAt(now))]++
				}
			}
			if len(clients) < store.MaxLimit {
				break
			}
		}
		for status, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, n, d.Name, status)
		}
	}
}
