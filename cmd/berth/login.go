//go:build registry

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berthproject/berth/image"
)

func newLoginCmd(g *globalOptions) *cobra.Command {
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry (credentials are kept where docker keeps them)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			if passwordStdin {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				password = strings.TrimRight(string(b), "\r\n")
			}
			var err error
			if user == "" {
				if user, err = prompt("Username: ", false); err != nil {
					return err
				}
			}
			if password == "" && !passwordStdin {
				if password, err = prompt("Password: ", true); err != nil {
					return err
				}
			}
			if err := image.Login(cmd.Context(), server, user, password); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return nil
		},
	}
	cmd.Flags().StringVarP(&user, "username", "u", "", "user name")
	cmd.Flags().StringVarP(&password, "password", "p", "", "password (prefer --password-stdin)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

func newLogoutCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Forget the credentials for a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			if err := image.Logout(server); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Removing login credentials for "+server)
			return nil
		},
	}
}

// prompt asks on the terminal; without one there is nobody to ask.
func prompt(question string, secret bool) (string, error) {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", errors.New("no terminal to ask for the " + strings.ToLower(strings.TrimSuffix(question, ": ")) + ": give -u and --password-stdin")
	}
	fmt.Fprint(os.Stderr, question)
	if secret {
		b, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	return strings.TrimSpace(line), err
}
