package containerinit

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// shrink gives back the memory the set-up needed and the long quiet life
// of the init does not: the mapped pages of its own code and read-only
// data. Every container has an init, so this is memory per container.
func shrink() { DropCodePages() }

// DropCodePages drops the resident pages of the running binary's
// read-only mappings (code, read-only data): a long-lived process ran its
// start-up and every package's init code once, and those pages would
// otherwise sit in memory for its whole life. Berth's engine and DNS
// helper call it too.
//
// It is safe because those mappings are never written: a page needed
// later faults back in from the page cache, which every process of the
// same binary shares. Writable mappings are left alone, since there the
// private copy is the only copy.
func DropCodePages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00485000 r-xp 00000000 fe:00 9977907   /path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Contains(fields[1], "w") {
			continue
		}
		if strings.Join(fields[5:], " ") != exe {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		// unix.Madvise wants a []byte; the raw call spares us unsafe.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}
