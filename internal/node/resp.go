package node

// serveRESP starts the RESP door (lands with internal/api/resp).
func (n *Node) serveRESP(d *doors) error { return nil }
