// Package tlsconf builds the TLS configurations of a node's doors and of
// its peer links from certificate files, reloading them when the files
// change, and makes the certificates to try a secure cluster with
// (`cairn cert`, as `cockroach cert`).
//
// A Reloader holds one certificate, its key and the CA bundle that
// verifies the other side, as files (etcd's --cert-file, --key-file,
// --trusted-ca-file; or the --peer-* trio). Every handshake reads its
// current pair and pool; at most once a second a handshake first looks at
// the files' size and modification time, and when they changed it parses
// them again and swaps them in — keeping the last good material, and
// logging, when the new files do not parse (a rotation caught half way).
// Verification of the other side happens in VerifyConnection against the
// current pool, so a rotated CA takes effect without a restart too.
//
//	r, err := tlsconf.NewReloader(tlsconf.Files{Cert: "node.crt", Key: "node.key", CA: "ca.crt"}, log)
//	srv := r.ServerConfig(tlsconf.RequireClientCert, tls.VersionTLS12) // doors, or peers with mTLS
//	cli := r.ClientConfig(tls.VersionTLS12)                              // dialling peers
//	exp := r.NotAfter()                                                  // cairn_tls_cert_expiry_seconds
//
// Making certificates (cockroach cert's layout: ca.crt and ca.key, node.crt
// and node.key with every address in the SANs, client.<user>.crt/.key with
// the user as the common name; keys 0600):
//
//	tlsconf.CreateCA(dir, caKey, validity)
//	tlsconf.CreateNode(dir, caKey, []string{"127.0.0.1", "n1.example"}, validity)
//	tlsconf.CreateClient(dir, caKey, "admin", validity)
package tlsconf
