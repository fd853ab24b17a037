// Command nettool is bench/net.sh's load generator: DNS queries per second
// and latency, and TCP throughput. It is built static, so the same binary
// runs on the host and inside busybox containers, and both ends of every
// measurement are the same program: ratios compare paths, not tools.
//
//	nettool dns [-server IP:53] -names a,b,c [-rate QPS] [-outstanding N] [-duration D]
//	nettool tcp-server -listen ADDR
//	nettool tcp-client -connect ADDR [-duration D]
//
// dns with -rate sends at that fixed rate (open loop: a slow answer does
// not slow the sender down, so latency is not flattered) and prints
// percentiles; without it, it keeps -outstanding queries in flight and
// prints the rate it reaches. The server defaults to the first nameserver
// of /etc/resolv.conf. Output is one line of key=value pairs.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: nettool dns|tcp-server|tcp-client [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "dns":
		err = dnsLoad(os.Args[2:])
	case "tcp-server":
		err = tcpServer(os.Args[2:])
	case "tcp-client":
		err = tcpClient(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nettool:", err)
		os.Exit(1)
	}
}

// dnsLoad sends A queries for names, round robin, over a few UDP sockets.
func dnsLoad(args []string) error {
	fs := flag.NewFlagSet("dns", flag.ExitOnError)
	server := fs.String("server", "", "DNS server IP:PORT (default: resolv.conf's first nameserver)")
	names := fs.String("names", "", "comma-separated names to ask for")
	rate := fs.Int("rate", 0, "queries per second, open loop (0: as fast as -outstanding allows)")
	outstanding := fs.Int("outstanding", 32, "queries in flight without -rate")
	duration := fs.Duration("duration", 5*time.Second, "how long to send")
	sockets := fs.Int("sockets", 4, "UDP sockets (source ports)")
	_ = fs.Parse(args)
	if *server == "" {
		ns, err := firstNameserver("/etc/resolv.conf")
		if err != nil {
			return err
		}
		*server = net.JoinHostPort(ns, "53")
	}
	var queries [][]byte
	for _, n := range strings.Split(*names, ",") {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(n), dns.TypeA)
		b, err := m.Pack()
		if err != nil {
			return err
		}
		queries = append(queries, b)
	}
	if *names == "" {
		return errors.New("-names is needed")
	}
	l := &loader{queries: queries}
	for range *sockets {
		c, err := net.Dial("udp", *server)
		if err != nil {
			return err
		}
		s := &sock{c: c.(*net.UDPConn)}
		l.socks = append(l.socks, s)
		l.readers.Add(1)
		go l.read(s)
	}
	start := time.Now()
	if *rate > 0 {
		l.openLoop(*rate, *duration)
	} else {
		l.closedLoop(*outstanding, *duration)
	}
	sent := l.sent.Load()
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond) // late answers
	for _, s := range l.socks {
		s.c.Close()
	}
	l.readers.Wait()
	lat := l.latencies()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	fmt.Printf("sent=%d answered=%d errors=%d lost=%d qps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
		sent, len(lat), l.errors.Load(), sent-int64(len(lat))-l.errors.Load(), float64(len(lat))/elapsed.Seconds(),
		pct(0.50), pct(0.90), pct(0.99), pct(1))
	return nil
}

type loader struct {
	queries [][]byte
	socks   []*sock
	sent    atomic.Int64
	errors  atomic.Int64 // answers that are not NOERROR with an address
	readers sync.WaitGroup
	// closed loop: a token per query in flight
	tokens chan struct{}
}

// sock is one UDP socket with its queries in flight, by DNS id.
type sock struct {
	c    *net.UDPConn
	mu   sync.Mutex
	next uint16
	at   [65536]time.Time
	lat  []time.Duration
}

func (l *loader) send(i int64) {
	s := l.socks[i%int64(len(l.socks))]
	q := l.queries[i%int64(len(l.queries))]
	// One sender: the query's bytes are patched in place, no copy.
	b := q
	s.mu.Lock()
	s.next++
	id := s.next
	s.at[id] = time.Now()
	s.mu.Unlock()
	binary.BigEndian.PutUint16(b, id)
	if _, err := s.c.Write(b); err != nil {
		l.errors.Add(1)
		l.release()
	}
	l.sent.Add(1)
}

func (l *loader) read(s *sock) {
	defer l.readers.Done()
	buf := make([]byte, 4096)
	for {
		n, err := s.c.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Now()
		if n < 12 {
			continue
		}
		// The header is all it needs: parsing the whole answer would
		// make the tool's own allocations and GC part of the latency.
		id := binary.BigEndian.Uint16(buf)
		rcode := buf[3] & 0xF
		answers := binary.BigEndian.Uint16(buf[6:])
		s.mu.Lock()
		at := s.at[id]
		s.at[id] = time.Time{}
		if !at.IsZero() {
			if rcode == dns.RcodeSuccess && answers > 0 {
				s.lat = append(s.lat, now.Sub(at))
			} else {
				l.errors.Add(1)
			}
		}
		s.mu.Unlock()
		l.release()
	}
}

func (l *loader) release() {
	if l.tokens != nil {
		select {
		case <-l.tokens:
		default:
		}
	}
}

// openLoop sends at rate for d, each query at its scheduled time. Go's
// timers wake no sooner than about a millisecond, so 10k/s goes out as
// about ten queries each millisecond, as from a busy client. (Spacing
// them evenly with nanosleep was tried: p50 fell, p99 rose, with twice
// the wake-ups on both sides on two CPUs.)
func (l *loader) openLoop(rate int, d time.Duration) {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := int64(0); ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			return
		}
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		l.send(i)
	}
}

// closedLoop keeps n queries in flight for d; a query lost for 100 ms
// gives its place to the next.
func (l *loader) closedLoop(n int, d time.Duration) {
	l.tokens = make(chan struct{}, n)
	end := time.Now().Add(d)
	for i := int64(0); time.Now().Before(end); i++ {
		select {
		case l.tokens <- struct{}{}:
		case <-time.After(100 * time.Millisecond):
			// One is lost: its place goes to this one.
		}
		l.send(i)
	}
}

func (l *loader) latencies() []time.Duration {
	var out []time.Duration
	for _, s := range l.socks {
		s.mu.Lock()
		out = append(out, s.lat...)
		s.mu.Unlock()
	}
	return out
}

func firstNameserver(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "nameserver" {
			return fs[1], nil
		}
	}
	return "", fmt.Errorf("no nameserver in %s", path)
}

// tcpServer reads every connection to its end and answers with the
// number of bytes it read, as 8 bytes, so the client times the transfer
// until the last byte arrived.
func tcpServer(args []string) error {
	fs := flag.NewFlagSet("tcp-server", flag.ExitOnError)
	listen := fs.String("listen", ":5201", "address to listen on")
	_ = fs.Parse(args)
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 256<<10)
			var total uint64
			for {
				n, err := c.Read(buf)
				total += uint64(n)
				if err != nil {
					break
				}
			}
			_ = binary.Write(c, binary.BigEndian, total)
		}()
	}
}

// tcpClient sends as fast as it can for a while over one connection and
// prints the rate the server received.
func tcpClient(args []string) error {
	fs := flag.NewFlagSet("tcp-client", flag.ExitOnError)
	addr := fs.String("connect", "", "server address")
	duration := fs.Duration("duration", 5*time.Second, "how long to send")
	_ = fs.Parse(args)
	var c net.Conn
	var err error
	for try := 0; try < 50; try++ { // the server may still be starting
		if c, err = net.Dial("tcp", *addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 128<<10)
	start := time.Now()
	end := start.Add(*duration)
	for time.Now().Before(end) {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	var total uint64
	if err := binary.Read(c, binary.BigEndian, &total); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("bytes=%d seconds=%.3f gbit_s=%.2f\n", total, secs, float64(total)*8/secs/1e9)
	return nil
}
