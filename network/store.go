package network

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Options tune a Manager; the zero value is what berth uses.
type Options struct {
	// Pool is where subnets of networks created without one come from,
	// cut into blocks of PoolSize bits; 10.89.0.0/16 in /24s by default.
	Pool     netip.Prefix
	PoolSize int
	// HostNetNS is the path of the network namespace bridges, rules and
	// the DNS server live in; empty means the caller's own. Tests pass a
	// namespace they made, so they never touch the machine's.
	HostNetNS string
	Log       *slog.Logger
}

// DefaultPool is the address pool networks take their subnets from.
var DefaultPool = netip.MustParsePrefix("10.89.0.0/16")

// DefaultPoolSize is the prefix length of a subnet cut from the pool.
const DefaultPoolSize = 24

// Manager owns berth's networks and the sandboxes attached to them. All
// state is on disk, guarded by a file lock, so several berth processes
// (CLIs, the engine, the DNS helper) can share one root.
type Manager struct {
	dir      string // <root>/networks
	netnsDir string // <runDir>/netns
	pool     netip.Prefix
	poolSize int
	host     hostNS
	log      *slog.Logger
}

// Open returns a Manager keeping records under root/networks and network
// namespace files under runDir/netns, creating both when missing.
func Open(root, runDir string) (*Manager, error) {
	return OpenWith(root, runDir, Options{})
}

// OpenWith is Open with options.
func OpenWith(root, runDir string, o Options) (*Manager, error) {
	m := &Manager{
		dir:      filepath.Join(root, "networks"),
		netnsDir: filepath.Join(runDir, "netns"),
		pool:     o.Pool,
		poolSize: o.PoolSize,
		log:      o.Log,
	}
	if !m.pool.IsValid() {
		m.pool = DefaultPool
	}
	if m.poolSize == 0 {
		m.poolSize = DefaultPoolSize
	}
	if !m.pool.Addr().Is4() || m.poolSize < m.pool.Bits() || m.poolSize > 30 {
		return nil, invalid("address pool %s cut into /%d", m.pool, m.poolSize)
	}
	m.pool = m.pool.Masked()
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{m.dir, filepath.Join(m.dir, "sandboxes"), m.netnsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating state directory %s: %w", d, err)
		}
	}
	m.host = hostNS{path: o.HostNetNS}
	return m, nil
}

// lock takes the exclusive lock every change of state holds. flock locks
// belong to the open file, so goroutines of one process exclude each
// other as separate processes do.
func (m *Manager) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(m.dir, "lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening network lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking network state: %w", err)
	}
	return func() { f.Close() }, nil
}

// networkRecord is a network as stored in <root>/networks/<name>.json.
type networkRecord struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Bridge   string            `json:"bridge"`
	Subnet   netip.Prefix      `json:"subnet"`
	Gateway  netip.Addr        `json:"gateway"`
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Created  time.Time         `json:"created"`
}

// Sandbox states. A record is written in the first two states before
// anything is made or torn down, so a crash leaves a note of what to undo.
const (
	stateAttaching = "attaching"
	stateAttached  = "attached"
	stateDetaching = "detaching"
)

// sandboxRecord is one container's network set-up, in
// <root>/networks/sandboxes/<id>.json. The addresses it lists are the
// IPAM's allocations: an address is taken exactly while a record names it.
type sandboxRecord struct {
	ID    string `json:"id"`
	NetNS string `json:"netns"`
	State string `json:"state"`
	// Owner is the process in the middle of attaching or detaching; when
	// it died, the next Attach, Detach or Cleanup finishes its job.
	Owner     owner         `json:"owner"`
	Boot      string        `json:"boot"` // boot id: records of an earlier boot are stale
	Endpoints []Endpoint    `json:"endpoints"`
	Ports     []PortBinding `json:"ports,omitempty"`
}

type owner struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"` // clock ticks since boot, tells a reused pid apart
	// Op is set while one operation of the process works on the record
	// without the lock (a detach deleting links), so that the process's
	// other goroutines wait for it, as other processes do, instead of
	// taking the sandbox down a second time beside it.
	Op uint64 `json:"op,omitempty"`
}

// inFlight reports whether an operation of a live process is detaching
// s right now: nobody else may take it down meanwhile.
func (s sandboxRecord) inFlight() bool {
	return s.State == stateDetaching && s.Owner.Op != 0 && s.Owner.alive()
}

func (m *Manager) networkPath(name string) string {
	return filepath.Join(m.dir, name+".json")
}

func (m *Manager) sandboxPath(id string) string {
	return filepath.Join(m.dir, "sandboxes", id+".json")
}

func (m *Manager) readNetworks() ([]networkRecord, error) {
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	var out []networkRecord
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		var n networkRecord
		if err := readJSON(filepath.Join(m.dir, e.Name()), &n); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("reading network %q: %w", name, err)
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *Manager) readNetwork(name string) (networkRecord, error) {
	var n networkRecord
	if !validName(name) {
		return n, fmt.Errorf("network %q: %w", name, ErrNotFound)
	}
	err := readJSON(m.networkPath(name), &n)
	if errors.Is(err, fs.ErrNotExist) {
		return n, fmt.Errorf("network %q: %w", name, ErrNotFound)
	}
	return n, err
}

func (m *Manager) readSandboxes() ([]sandboxRecord, error) {
	dir := filepath.Join(m.dir, "sandboxes")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing sandboxes: %w", err)
	}
	var out []sandboxRecord
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		var s sandboxRecord
		path := filepath.Join(dir, e.Name())
		if err := readJSON(path, &s); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if tornBeforeBoot(path, err) {
				// Records are not synced (writeSandbox): a crash of the
				// machine may leave one empty or cut short. Of an
				// earlier boot, it describes nothing that still exists.
				m.log.Info("removing a sandbox record an earlier boot left unreadable", "file", path)
				if err := removeFile(path); err != nil {
					return nil, err
				}
				continue
			}
			return nil, fmt.Errorf("reading sandbox %s: %w", e.Name(), err)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// readSandbox returns the record of id, or ok=false when there is none.
func (m *Manager) readSandbox(id string) (s sandboxRecord, ok bool, err error) {
	err = readJSON(m.sandboxPath(id), &s)
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	return s, err == nil, err
}

// writeSandbox replaces a sandbox's record, atomically but without
// fsync: a sandbox record describes this boot only (its namespace, links
// and rules are gone after a crash of the machine, and reapDead takes
// down any record of an earlier boot), so it needs no durability, only
// never to be seen half-written by a live process, which the rename
// gives. Synced, the two writes of every Attach waited under the state
// lock for journal commits, and a stack's containers queued for them.
func (m *Manager) writeSandbox(s *sandboxRecord) error {
	return replaceJSON(m.sandboxPath(s.ID), s, false)
}

// removeSandboxRecord removes a sandbox's record without syncing the
// directory: sandbox records matter within one boot only (after a crash
// of the machine every one is stale, and reapDead takes down whatever
// version of it survived), so a removal the crash undid is harmless,
// and a detach under the lock need not wait for a journal commit.
func (m *Manager) removeSandboxRecord(id string) error {
	if err := os.Remove(m.sandboxPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeJSONAtomic writes v to path through a temporary file, fsync and
// rename, so a reader (or a crash) sees the old or the new file, whole.
func writeJSONAtomic(path string, v any) error { return replaceJSON(path, v, true) }

// replaceJSON writes v to path through a temporary file and a rename, so
// a reader sees the old or the new file, whole; durable syncs the file
// and the directory too, so a crash of the machine does as well.
func replaceJSON(path string, v any, durable bool) error {
	tmp := tempName(path)
	err := writeJSONFile(tmp, v, durable)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if !durable {
		return nil
	}
	return syncDir(filepath.Dir(path))
}

// writeJSONFile writes v as JSON to the file path, synced if sync.
func writeJSONFile(path string, v any, sync bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// newID returns 32 random bytes in hex, as Docker's ids.
func newID() (string, error) {
	b := make([]byte, 32)
	for n := 0; n < len(b); {
		k, err := unix.Getrandom(b[n:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		n += k
	}
	return hex.EncodeToString(b), nil
}

// NewSandboxID returns a fresh id for a sandbox, for a caller that
// attaches before it has a container id of its own.
func NewSandboxID() (string, error) { return newID() }

// tornBeforeBoot reports whether readErr is a record's JSON being cut
// short or garbled (not an I/O error) and the file at path was last
// written before this boot.
func tornBeforeBoot(path string, readErr error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if !errors.As(readErr, &syntax) && !errors.As(readErr, &typ) {
		return false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	boot, err := bootTime()
	return err == nil && fi.ModTime().Before(boot)
}

// bootTime is when this boot began, from btime in /proc/stat.
func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("reading btime in /proc/stat: %w", err)
			}
			return time.Unix(secs, 0), nil
		}
	}
	return time.Time{}, errors.New("no btime in /proc/stat")
}

// bootID tells this boot from earlier ones.
func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

// self is this process as an owner of a record.
var self = sync.OnceValue(func() owner {
	st, _ := procStart(os.Getpid())
	return owner{Pid: os.Getpid(), Start: st}
})

// lastOp numbers this process's operations for owner.Op.
var lastOp atomic.Uint64

// newOperation is a new operation of this process as the owner of a
// record.
func newOperation() owner {
	o := self()
	o.Op = lastOp.Add(1)
	return o
}

// Every write of a record goes through a temporary file of its own in
// the record's directory, named after its writer and numbered:
//
//	<record>.tmp-<pid>-<start>-<n>
//
// No two writes share one, not even two goroutines' of one process (the
// background detaches of a stack's replicas). The next reapDead removes one
// whose writer died mid-write (removeDeadTemps), by the rule that reaps a
// record's owner: the process with that pid and start time no longer
// runs. A killed writer is gone at once, though it stays a zombie until
// its parent reaps it: the engine's parent is init, which may take
// seconds, and a whole `berth down`, its last reapDead included, can
// pass meanwhile. (The rule asked kill(pid, 0) before, which succeeds on
// a zombie.)
const tempInfix = ".tmp-"

// lastTemp numbers this process's temporaries.
var lastTemp atomic.Uint64

// tempName is a new temporary file name for a write of path.
func tempName(path string) string {
	me := self()
	return fmt.Sprintf("%s%s%d-%d-%d", path, tempInfix, me.Pid, me.Start, lastTemp.Add(1))
}

// tempAbandoned reports whether name is a temporary of tempName's whose
// writer is gone. Temporaries named by berth before it numbered them
// (<record>.tmp-<pid>) have no start time: theirs is gone once no process
// with that pid runs.
func tempAbandoned(name string) bool {
	i := strings.LastIndex(name, tempInfix) // a network's name may hold one too
	if i < 0 {
		return false
	}
	f := strings.Split(name[i+len(tempInfix):], "-")
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return false
	}
	switch len(f) {
	case 1:
		_, err := procStart(pid)
		return errors.Is(err, fs.ErrNotExist)
	case 3:
		start, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return false
		}
		if _, err := strconv.ParseUint(f[2], 10, 64); err != nil {
			return false
		}
		return !owner{Pid: pid, Start: start}.alive()
	}
	return false
}

// alive reports whether the owner process still runs.
func (o owner) alive() bool {
	if o.Pid <= 0 {
		return false
	}
	// This process's own operations (a stack's detaches, in flight
	// together) need no look at /proc, which reapDead would take under
	// the lock for each of them.
	if me := self(); o.Pid == me.Pid {
		return o.Start == me.Start
	}
	st, err := procStart(o.Pid)
	return err == nil && st == o.Start
}

// procStart reads a process's start time (field 22 of /proc/PID/stat).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fs.ErrNotExist
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func isInUse(err error) bool    { return errors.Is(err, ErrInUse) }
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
