// Command cairn is Cairn's one binary: a server, a local development
// cluster, a client CLI, a load generator (bench) and a fault-injection
// checker (check). It is thin: flags in, a package call out.
package main
