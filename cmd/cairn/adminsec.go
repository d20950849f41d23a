package main

import (
	"os"

	"github.com/spf13/cobra"
)

// userCmd is cairn admin user add|remove|passwd|grant|list.
func userCmd() *cobra.Command {
	user := &cobra.Command{
		Use:   "user",
		Short: "Add, remove and list users, change their passwords and roles",
		Long: `Users of a cluster created with --initial-admin-password-file, kept in the
meta group (argon2id hashes, never the passwords). Roles: read (GET, SCAN,
…), readwrite, admin (also cairn admin, FLUSHALL, /debug/pprof). Needs the
admin role (--user admin --password-file ...). A new password is read from
--new-password-file (its first line), or CAIRN_NEW_PASSWORD; never from the
command line.

Example:

  cairn admin user add alice --role readwrite --new-password-file alice.pw --user admin --password-file admin.pw
  cairn admin user grant alice --role read
  cairn admin user list -o json`,
		Args: cobra.NoArgs,
	}
	withPassword := func(c *cobra.Command) {
		c.Flags().String("new-password-file", "", "file holding the user's new password (first line; or CAIRN_NEW_PASSWORD)")
	}
	withRole := func(c *cobra.Command) {
		c.Flags().String("role", "", "read, readwrite or admin")
	}
	sub := func(use, short string, n int, setup ...func(*cobra.Command)) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, Args: adminArgs(n, "USER")}
		for _, s := range setup {
			s(c)
		}
		c.RunE = adminRun("user " + use[:len(use)-len(" USER")*n])
		return c
	}
	user.AddCommand(
		sub("add USER", "Make a user with a role and a password", 1, withRole, withPassword),
		sub("remove USER", "Delete a user", 1),
		sub("passwd USER", "Replace a user's password", 1, withPassword),
		sub("grant USER", "Replace a user's role", 1, withRole),
		sub("list", "List users and their roles", 0),
	)
	return user
}

// joinTokenCmd is cairn admin join-token create|list|revoke.
func joinTokenCmd() *cobra.Command {
	jt := &cobra.Command{
		Use:   "join-token",
		Short: "Make, list and revoke the tokens new nodes join a secure cluster with",
		Long: `A secure cluster (TLS, or users) takes a new node only with a single-use join
token, or with a node certificate its CA signed. create prints a token
(random, 256 bits of secret, bound to the cluster ID, stored only as a
hash); give it to the new node: cairn server --join ADDR --join-token T.
Needs the admin role.

Example:

  T=$(cairn admin join-token create --ttl 1h --user admin --password-file admin.pw)
  cairn server --name n4 --join 10.0.0.1:7379 --join-token "$T" ...`,
		Args: cobra.NoArgs,
	}
	create := &cobra.Command{Use: "create", Short: "Print a new single-use join token", Args: adminArgs(0, "")}
	create.Flags().Duration("ttl", 0, "how long the token is valid (default 1h)")
	create.RunE = adminRun("join-token create")
	list := &cobra.Command{Use: "list", Short: "List the unused tokens (IDs and expiry)", Args: adminArgs(0, "")}
	list.RunE = adminRun("join-token list")
	revoke := &cobra.Command{Use: "revoke ID", Short: "Delete a token by its ID", Args: adminArgs(1, "ID")}
	revoke.RunE = adminRun("join-token revoke")
	jt.AddCommand(create, list, revoke)
	return jt
}

// newPassword reads --new-password-file, else CAIRN_NEW_PASSWORD.
func newPassword(c *cobra.Command) (string, error) {
	if c.Flags().Lookup("new-password-file") == nil {
		return "", nil
	}
	if f, _ := c.Flags().GetString("new-password-file"); f != "" {
		return readPasswordFile(f)
	}
	return os.Getenv("CAIRN_NEW_PASSWORD"), nil
}
