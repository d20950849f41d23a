package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnkv/cairn/internal/tlsconf"
	"github.com/spf13/cobra"
)

func certCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Make a CA and node and client certificates for a secure cluster",
		Long: `Make the certificates a secure cluster runs with, in one directory
(--certs-dir), the layout cockroach cert uses:

  ca.crt                    the CA every node and client trusts (--trusted-ca-file)
  ca.key                    the CA's key (--ca-key): keep it off the nodes
  node.crt, node.key        a node's certificate, for clients and peers alike
                            (--cert-file/--key-file, --peer-cert-file/--peer-key-file)
  client.USER.crt/.key      a client's certificate, USER as its common name

Keys are written 0600; nothing is overwritten. These are for trying a
secure cluster out; in production use your own PKI.

  cairn cert create-ca     --certs-dir certs
  cairn cert create-node   --certs-dir certs 127.0.0.1 localhost n1.example.com
  cairn cert create-client --certs-dir certs admin`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.String("certs-dir", "certs", "directory of the certificates")
	pf.String("ca-key", "", "the CA's key file (default: ca.key in --certs-dir)")
	pf.Duration("lifetime", 0, "how long the certificate is valid (default: 10 years for the CA, 5 for the others; never beyond the CA's)")
	paths := func(c *cobra.Command) (dir, caKey string) {
		dir, _ = c.Flags().GetString("certs-dir")
		caKey, _ = c.Flags().GetString("ca-key")
		if caKey == "" {
			caKey = filepath.Join(dir, tlsconf.CAKey)
		}
		return dir, caKey
	}
	lifetime := func(c *cobra.Command, def time.Duration) (time.Duration, error) {
		d, _ := c.Flags().GetDuration("lifetime")
		if d < 0 {
			return 0, usageError{fmt.Errorf("--lifetime %v: want a positive duration", d)}
		}
		if d == 0 {
			d = def
		}
		return d, nil
	}
	ca := &cobra.Command{
		Use:   "create-ca",
		Short: "Make the CA: ca.crt in --certs-dir and its key at --ca-key",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			dir, caKey := paths(c)
			d, err := lifetime(c, tlsconf.DefaultCAValidity)
			if err != nil {
				return err
			}
			if err := tlsconf.CreateCA(dir, caKey, d); err != nil {
				return err
			}
			fmt.Fprintf(os.Stdout, "wrote %s and %s\n", filepath.Join(dir, tlsconf.CACert), caKey)
			return nil
		},
	}
	node := &cobra.Command{
		Use:   "create-node HOST...",
		Short: "Make node.crt and node.key for the hosts (IP addresses, DNS names) a node is reached at",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, hosts []string) error {
			dir, caKey := paths(c)
			d, err := lifetime(c, tlsconf.DefaultCertValidity)
			if err != nil {
				return err
			}
			if err := tlsconf.CreateNode(dir, caKey, hosts, d); err != nil {
				return err
			}
			fmt.Fprintf(os.Stdout, "wrote %s and %s\n", filepath.Join(dir, tlsconf.NodeCert), filepath.Join(dir, tlsconf.NodeKey))
			return nil
		},
	}
	client := &cobra.Command{
		Use:   "create-client USER",
		Short: "Make client.USER.crt and client.USER.key",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			dir, caKey := paths(c)
			d, err := lifetime(c, tlsconf.DefaultCertValidity)
			if err != nil {
				return err
			}
			if err := tlsconf.CreateClient(dir, caKey, args[0], d); err != nil {
				return err
			}
			fmt.Fprintf(os.Stdout, "wrote %s and %s\n", filepath.Join(dir, tlsconf.ClientCert(args[0])), filepath.Join(dir, tlsconf.ClientKey(args[0])))
			return nil
		},
	}
	cmd.AddCommand(ca, node, client)
	return cmd
}
