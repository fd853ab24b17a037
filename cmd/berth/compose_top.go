//go:build registry

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

type composeTopOptions struct{ stack stackOptions }

func newComposeTopCmd(g *globalOptions) *cobra.Command {
	o := &composeTopOptions{}
	cmd := &cobra.Command{
		Use:   "top [SERVICE...]",
		Short: "Show the processes running in the stack's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runComposeTop(cmd.Context(), g, o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	return cmd
}

func runComposeTop(ctx context.Context, g *globalOptions, o *composeTopOptions, services []string, w, errOut io.Writer) error {
	_, _, cs, err := openStack(ctx, g, &o.stack, services, errOut)
	if err != nil {
		return err
	}
	now := time.Now()
	boot := bootTime()
	for _, c := range cs {
		if !c.State.Running {
			continue
		}
		procs, err := processTree(c.State.Pid)
		if err != nil {
			return fmt.Errorf("reading the processes of %s: %w", c.Name(), err)
		}
		fmt.Fprintln(w, c.Name())
		tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "UID\tPID\tPPID\tC\tSTIME\tTTY\tTIME\tCMD")
		for _, pr := range procs {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n",
				pr.user(), pr.pid, pr.ppid, pr.cpuPercent(boot, now), pr.startColumn(boot, now), pr.tty(), pr.cpuTime(), pr.cmd)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture berth runs on.
const clockTicks = 100

// proc is one process as /proc shows it, with what ps -ef prints.
type proc struct {
	pid, ppid      int
	uid            string
	ttyNr          int
	utime, stime   uint64 // ticks
	startAfterBoot uint64 // ticks
	cmd            string
}

// processTree lists the processes under a container's init, as the host
// sees them, in pid order. The init itself is berth's, not the
// workload's: like docker top, which shows the container's processes and
// no shim, it is left out.
func processTree(initPid int) ([]proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]proc{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		pr, err := readProc(pid)
		if err != nil {
			continue // it ended while we looked
		}
		children[pr.ppid] = append(children[pr.ppid], pr)
	}
	var out []proc
	queue := []int{initPid}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, ch := range children[pid] {
			out = append(out, ch)
			queue = append(queue, ch.pid)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out, nil
}

func readProc(pid int) (proc, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return proc{}, err
	}
	// The command's name is in parentheses and may hold spaces and
	// parentheses itself: the fields start after the last ')'.
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return proc{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[end+1:]))
	if len(f) < 20 {
		return proc{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	pr := proc{pid: pid}
	pr.ppid, _ = strconv.Atoi(f[1])
	pr.ttyNr, _ = strconv.Atoi(f[4])
	pr.utime, _ = strconv.ParseUint(f[11], 10, 64)
	pr.stime, _ = strconv.ParseUint(f[12], 10, 64)
	pr.startAfterBoot, _ = strconv.ParseUint(f[19], 10, 64)
	if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && len(cmdline) > 0 {
		pr.cmd = strings.Join(strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"), " ")
	} else {
		pr.cmd = "[" + string(stat[open+1:end]) + "]" // a kernel thread, or a zombie
	}
	if status, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				if ids := strings.Fields(rest); len(ids) > 0 {
					pr.uid = ids[0]
				}
			}
		}
	}
	return pr, nil
}

// user is the process's user by the host's names, as ps on the host
// prints it.
func (pr proc) user() string {
	if u, err := user.LookupId(pr.uid); err == nil {
		return u.Username
	}
	return pr.uid
}

func (pr proc) started(boot time.Time) time.Time {
	return boot.Add(time.Duration(pr.startAfterBoot) * time.Second / clockTicks)
}

// cpuPercent is ps's C: CPU time over time alive, in percent.
func (pr proc) cpuPercent(boot, now time.Time) int {
	alive := now.Sub(pr.started(boot))
	if alive <= 0 {
		return 0
	}
	used := time.Duration(pr.utime+pr.stime) * time.Second / clockTicks
	return int(used * 100 / alive)
}

// startColumn is ps's STIME: the time of day when started today, else
// the date.
func (pr proc) startColumn(boot, now time.Time) string {
	t := pr.started(boot).Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04")
	}
	return t.Format("Jan02")
}

// tty reads tty_nr as ps does: pts/N for pseudo-terminals, ? for none.
func (pr proc) tty() string {
	if pr.ttyNr == 0 {
		return "?"
	}
	major, minor := (pr.ttyNr>>8)&0xfff, (pr.ttyNr&0xff)|((pr.ttyNr>>12)&0xfff00)
	if major >= 136 && major <= 143 {
		return fmt.Sprintf("pts/%d", (major-136)*256+minor)
	}
	return fmt.Sprintf("%d,%d", major, minor)
}

// cpuTime is ps's TIME: user and system CPU time, [DD-]HH:MM:SS.
func (pr proc) cpuTime() string {
	secs := (pr.utime + pr.stime) / clockTicks
	return fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
}

// bootTime is when the machine booted, from /proc/stat's btime.
func bootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			if secs, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64); err == nil {
				return time.Unix(secs, 0)
			}
		}
	}
	return time.Time{}
}
