package tlsconf

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ExpiryGauge is cairn_tls_cert_expiry_seconds{cert=which}: the seconds
// until r's current certificate expires (negative once it has), read at
// scrape time so a reload shows at once. which is "client" (the doors'
// certificate) or "peer".
func ExpiryGauge(r *Reloader, which string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "cairn_tls_cert_expiry_seconds",
		Help:        "Seconds until the certificate in use expires (negative: expired); alert well before zero.",
		ConstLabels: prometheus.Labels{"cert": which},
	}, func() float64 { return time.Until(r.NotAfter()).Seconds() })
}
