// Command cairn is Cairn's one binary: a server, a local development
// cluster, and a client CLI. It is thin: flags in, a package call out.
package main
