//go:build registry

package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/scheduler"
)

type composePortOptions struct {
	stack    stackOptions
	protocol string
	index    int
}

func newComposePortCmd(g *globalOptions) *cobra.Command {
	o := &composePortOptions{}
	cmd := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the host address a service's port is published on",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runComposePort(cmd.Context(), g, o, args[0], args[1], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	f := cmd.Flags()
	f.StringVar(&o.protocol, "protocol", "tcp", "tcp or udp")
	f.IntVar(&o.index, "index", 0, "which replica, when the service has several (default: the first)")
	return cmd
}

func runComposePort(ctx context.Context, g *globalOptions, o *composePortOptions, service, private string, w, errOut io.Writer) error {
	if o.protocol != "tcp" && o.protocol != "udp" {
		return &exitError{code: 2, err: fmt.Errorf("--protocol %q: use tcp or udp", o.protocol)}
	}
	port, err := strconv.ParseUint(private, 10, 16)
	if err != nil || port == 0 {
		return &exitError{code: 2, err: fmt.Errorf("%q is not a port number", private)}
	}
	p, err := resolveProject(ctx, &o.stack, false, errOut)
	if err != nil {
		return err
	}
	m, err := newManager(g)
	if err != nil {
		return err
	}
	cs, err := p.containers(m, []string{service})
	if err != nil {
		return err
	}
	want := strconv.Itoa(o.index)
	for _, c := range cs {
		if c.Config.Labels[scheduler.LabelOneoff] == "True" || (o.index > 0 && c.Config.Labels[scheduler.LabelNumber] != want) {
			continue
		}
		if !c.State.Running {
			if o.index > 0 {
				return fmt.Errorf("service %q: replica %d is not running (a stopped container publishes no port)", service, o.index)
			}
			continue
		}
		for _, b := range (&sandboxes{g: g}).of(c).ports() {
			if int(b.ContainerPort) == int(port) && b.Protocol == o.protocol {
				fmt.Fprintln(w, publishedAddr(b.HostIP, b.HostPort))
				return nil
			}
		}
		return fmt.Errorf("no port %d/%s published for %s; ports: in compose.yaml publish it under services.%s.ports", port, o.protocol, c.Name(), service)
	}
	if o.index > 0 {
		return fmt.Errorf("service %q has no replica %d", service, o.index)
	}
	return fmt.Errorf("service %q has no running container: start it with berth compose up -d %s", service, service)
}

type composeImagesOptions struct {
	stack  stackOptions
	quiet  bool
	format string
}

func newComposeImagesCmd(g *globalOptions) *cobra.Command {
	o := &composeImagesOptions{}
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [SERVICE...]",
		Short: "List the images the stack's containers run",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runComposeImages(cmd.Context(), g, o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	f := cmd.Flags()
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only display image IDs")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

// composeImageRow is one container's image in `compose images --format
// json`, with docker compose's keys.
type composeImageRow struct {
	ID            string `json:"ID"`
	ContainerName string `json:"ContainerName"`
	Repository    string `json:"Repository"`
	Tag           string `json:"Tag"`
	Size          int64  `json:"Size"`
}

func runComposeImages(ctx context.Context, g *globalOptions, o *composeImagesOptions, services []string, w, errOut io.Writer) error {
	if err := checkListFormat(o.format); err != nil {
		return err
	}
	_, _, cs, err := openStack(ctx, g, &o.stack, services, errOut)
	if err != nil {
		return err
	}
	s, err := newImageStore(g)
	if err != nil {
		return err
	}
	var rows []composeImageRow
	for _, c := range cs {
		r := composeImageRow{ContainerName: c.Name(), Repository: "<none>", Tag: "<none>", ID: c.Config.ImageID}
		ref := c.Config.ImageID
		if ref == "" {
			ref = c.Config.Image
		}
		if img, err := s.Get(ref); err == nil {
			r.ID, r.Size = img.ID, img.Size
			// The name the container was made from, when the image still
			// carries it; else the image's first.
			if n, err := image.NormalizeName(c.Config.Image); err == nil && slices.Contains(img.Names, n) {
				r.Repository, r.Tag = splitName(n)
			} else if len(img.Names) > 0 {
				r.Repository, r.Tag = splitName(img.Names[0])
			}
		}
		rows = append(rows, r)
	}
	switch {
	case o.quiet:
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				fmt.Fprintln(w, r.ID)
			}
		}
		return nil
	case o.format == "json":
		return writeJSONLines(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ContainerName, r.Repository, r.Tag, shortID(r.ID), units.HumanSizeWithPrecision(float64(r.Size), 3))
	}
	return tw.Flush()
}
