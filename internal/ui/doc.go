// Package ui is the dashboard every node serves at /ui on its HTTP port
// (DESIGN.md, Operating it): plain HTML, CSS and JavaScript embedded in the
// binary, no build step and nothing fetched from the internet, reading one
// JSON document that the answering node gathers for it.
//
// The page polls GET /ui/api/overview every RefreshInterval. The answering
// node builds that Overview from what it knows (its cluster view, the meta
// leader's placement status, the ring over the placeable members) plus each
// member's own figures, fetched from that member's GET /ui/api/node with a
// short timeout so a dead node shows as unreachable instead of stalling the
// page. Rates and the p99 are computed in the browser from the difference
// of two successive polls of cumulative counters, so the server keeps no
// state for a viewer.
//
// The figures a node reports of itself (NodeStats) come from its own
// Prometheus registry (the doors' request histograms, the consistency
// checks, the transport's clock offsets) and from its Source (free disk,
// NOSPACE), so the dashboard shows what /metrics shows.
package ui
