package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cairnkv/cairn/client"
	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// MetricsAuto is Config.Metrics's default: the HTTP addresses the cluster
// advertises, found through the Cluster service of the first gRPC endpoint
// (grpc only; with resp, give the addresses).
const MetricsAuto = "auto"

// cpuMetric is the process collector's counter every node exports.
const cpuMetric = "process_cpu_seconds_total"

// cpuSampler reads the servers' CPU time: process_cpu_seconds_total summed
// over the /metrics of every address.
type cpuSampler struct {
	addrs  []string
	http   *http.Client
	scheme string // of an address given without one
}

// newCPUSampler resolves cfg.Metrics: nil when there is nothing to sample
// (--metrics none, or auto with resp), an error when the addresses cannot
// be found or one does not answer with the metric.
func newCPUSampler(ctx context.Context, cfg *Config) (*cpuSampler, error) {
	var addrs []string
	switch m := strings.TrimSpace(cfg.Metrics); m {
	case "", "none":
		return nil, nil
	case MetricsAuto:
		if cfg.Protocol != ProtocolGRPC {
			return nil, nil
		}
		var err error
		if addrs, err = advertisedHTTP(ctx, cfg.Endpoints[0], cfg.Timeout, cfg.dialOptions()...); err != nil {
			return nil, fmt.Errorf("--metrics auto: %w (give --metrics HTTP addresses, or none)", err)
		}
	default:
		for a := range strings.SplitSeq(m, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
	}
	s := &cpuSampler{addrs: addrs, http: &http.Client{Timeout: cfg.Timeout}, scheme: "http://"}
	if cfg.TLS != nil {
		s.http.Transport = &http.Transport{TLSClientConfig: cfg.TLS}
		s.scheme = "https://"
	}
	if _, err := s.sample(ctx); err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	return s, nil
}

// advertisedHTTP asks the node at grpcAddr for the cluster view and
// returns every node's HTTP address.
func advertisedHTTP(ctx context.Context, grpcAddr string, timeout time.Duration, opts ...grpc.DialOption) ([]string, error) {
	cc, err := grpc.NewClient(grpcAddr, opts...)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, err := cairnv1.NewClusterClient(cc).GetCluster(ctx, &cairnv1.GetClusterRequest{})
	if err != nil {
		return nil, fmt.Errorf("cluster view from %s: %w", grpcAddr, err)
	}
	var addrs, missing []string
	for _, n := range info.GetNodes() {
		if h := n.GetHttpAddr(); h != "" {
			addrs = append(addrs, h)
		} else {
			missing = append(missing, n.GetName())
		}
	}
	// NB: all or nothing: a sum over some of the servers would understate
	// the cost per operation without saying so.
	if len(missing) > 0 || len(addrs) == 0 {
		return nil, fmt.Errorf("no advertised HTTP address (yet) for %s", strings.Join(missing, ", "))
	}
	return addrs, nil
}

// sample returns the summed CPU seconds of every address now.
func (s *cpuSampler) sample(ctx context.Context) (float64, error) {
	var sum float64
	for _, a := range s.addrs {
		v, err := s.cpuOf(ctx, a)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

func (s *cpuSampler) cpuOf(ctx context.Context, addr string) (float64, error) {
	url := addr
	if !strings.Contains(url, "://") {
		url = s.scheme + url
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s/metrics: %s", url, resp.Status)
	}
	v, ok, err := parseCPU(bufio.NewScanner(resp.Body))
	if err != nil {
		return 0, fmt.Errorf("%s/metrics: %w", url, err)
	}
	if !ok {
		return 0, fmt.Errorf("%s/metrics has no %s", url, cpuMetric)
	}
	return v, nil
}

// parseCPU finds the unlabelled cpuMetric sample in Prometheus's text format.
func parseCPU(sc *bufio.Scanner) (float64, bool, error) {
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), cpuMetric+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.Fields(rest + " 0")[0], 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", cpuMetric, err)
		}
		return f, true, nil
	}
	return 0, false, sc.Err()
}

// grpcCreds are the transport credentials of c: plaintext when nil.
func grpcCreds(c *tls.Config) credentials.TransportCredentials {
	if c == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(c)
}

// dialOptions are the gRPC options of the bench's own calls: TLS and the
// login per cfg.
func (cfg *Config) dialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(grpcCreds(cfg.TLS))}
	if cfg.User != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(client.BasicAuth(cfg.User, cfg.Password)))
	}
	return opts
}
