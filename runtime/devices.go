package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"unsafe"

	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// deviceRule allows or denies access to devices, as a line of v1's
// devices.allow or devices.deny does.
type deviceRule struct {
	allow        bool
	typ          byte   // 'a' (all), 'c' (character) or 'b' (block)
	major, minor int64  // -1 is any ("*")
	access       string // some of "rwm": read, write, mknod
}

// anyDevice is a wildcard major or minor number.
const anyDevice = -1

// defaultDevices are Docker's default device rules: deny everything, then
// allow the few character devices every container gets (/dev/null, zero,
// full, random, urandom, tty, console, ptmx and the pts), and mknod of any
// device, which is harmless while reading and writing it stay denied.
//
// v1 writes them to devices.deny and devices.allow in this order (see
// writeV1Devices). v2 has no devices controller: they are compiled into an
// eBPF program attached to the group (see deviceFilter), where the last
// matching rule wins, as on v1.
func defaultDevices() []deviceRule {
	allow := func(typ byte, major, minor int64, access string) deviceRule {
		return deviceRule{allow: true, typ: typ, major: major, minor: minor, access: access}
	}
	return []deviceRule{
		{allow: false, typ: 'a', major: anyDevice, minor: anyDevice, access: "rwm"},
		allow('c', anyDevice, anyDevice, "m"),
		allow('b', anyDevice, anyDevice, "m"),
		allow('c', 1, 3, "rwm"),           // null
		allow('c', 1, 5, "rwm"),           // zero
		allow('c', 1, 7, "rwm"),           // full
		allow('c', 1, 8, "rwm"),           // random
		allow('c', 1, 9, "rwm"),           // urandom
		allow('c', 5, 0, "rwm"),           // tty
		allow('c', 5, 1, "rwm"),           // console
		allow('c', 5, 2, "rwm"),           // ptmx
		allow('c', 136, anyDevice, "rwm"), // pts
	}
}

// String reads "allow c 1:3 rwm" or "deny a *:* rwm".
func (d deviceRule) String() string {
	if d.allow {
		return "allow " + d.v1()
	}
	return "deny " + d.v1()
}

// v1 is d as devices.allow and devices.deny take it: "c 1:3 rwm".
func (d deviceRule) v1() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return string(d.typ) + " " + num(d.major) + ":" + num(d.minor) + " " + d.access
}

// writeV1Devices applies rules, in order, to the v1 devices group at dir.
// The controller takes one rule per write; they go through one open file
// each for devices.deny and devices.allow, not a file opened per rule:
// opening a cgroup file costs about what the write does, so that cut the
// default rules from 440 µs to 105 µs where it was measured.
func writeV1Devices(dir string, rules []deviceRule) error {
	fds := map[string]int{}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, r := range rules {
		path := filepath.Join(dir, "devices.deny")
		if r.allow {
			path = filepath.Join(dir, "devices.allow")
		}
		fd, ok := fds[path]
		if !ok {
			var err error
			if fd, err = openCgroupFile(path); err != nil {
				return fmt.Errorf("setting device rules: %w", err)
			}
			fds[path] = fd
		}
		if err := writeCgroupValue(fd, r.v1()); err != nil {
			return fmt.Errorf("setting device rule %q in %s: %w", r.v1(), path, err)
		}
	}
	return nil
}

// deviceFilter compiles rules into a BPF_PROG_TYPE_CGROUP_DEVICE program,
// the v2 equivalent of the v1 devices controller. The kernel runs it on
// every open and mknod of a device node in the group; it returns 1 to allow
// the access and 0 to deny it (EPERM).
//
// The program tests the rules from the last to the first, each in a block
// that jumps to the next block on a mismatch and returns the rule's verdict
// on a match, so the last matching rule wins. A rule matching everything
// (Docker's leading "deny a *:* rwm") ends the program; without one,
// whatever no rule matched is denied.
//
//	        r2 = ctx->access_type & 0xffff   type: BPF_DEVCG_DEV_CHAR or _BLOCK
//	        r3 = ctx->access_type >> 16      access: BPF_DEVCG_ACC_* bits
//	        r4 = ctx->major, r5 = ctx->minor
//	rule i: if r2 != type goto rule i-1        (left out for 'a')
//	        if r3 & ^access != 0 goto rule i-1 (left out for "rwm")
//	        if r4 != major goto rule i-1       (left out for *)
//	        if r5 != minor goto rule i-1       (left out for *)
//	        return allow ? 1 : 0
//	deny:   return 0
//
// A rule matches only if it allows every access asked for (an open for
// reading and writing asks for both), as runc's filter has it.
func deviceFilter(rules []deviceRule) (asm.Instructions, error) {
	// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
	insts := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.And.Imm32(asm.R2, 0xffff),
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word),
	}
	label := func(i int) string {
		if i < 0 {
			return "deny"
		}
		return "rule" + strconv.Itoa(i)
	}
	for i := len(rules) - 1; i >= 0; i-- {
		code, err := deviceRuleBlock(rules[i], label(i-1))
		if err != nil {
			return nil, fmt.Errorf("device rule %q: %w", rules[i].v1(), err)
		}
		code[0] = code[0].WithSymbol(label(i))
		insts = append(insts, code...)
		if len(code) == 2 { // no test: the rule matches everything
			return insts, nil
		}
	}
	return append(insts,
		asm.Mov.Imm32(asm.R0, 0).WithSymbol(label(-1)),
		asm.Return(),
	), nil
}

// deviceRuleBlock is the block of deviceFilter that tests d, jumping to
// next when d does not match.
func deviceRuleBlock(d deviceRule, next string) (asm.Instructions, error) {
	var code asm.Instructions
	switch d.typ {
	case 'a':
	case 'c':
		code = append(code, asm.JNE.Imm(asm.R2, unix.BPF_DEVCG_DEV_CHAR, next))
	case 'b':
		code = append(code, asm.JNE.Imm(asm.R2, unix.BPF_DEVCG_DEV_BLOCK, next))
	default:
		return nil, fmt.Errorf("unknown device type %q", d.typ)
	}
	var access int32
	for _, a := range d.access {
		switch a {
		case 'r':
			access |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			access |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			access |= unix.BPF_DEVCG_ACC_MKNOD
		default:
			return nil, fmt.Errorf("unknown device access %q", a)
		}
	}
	const all = unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE | unix.BPF_DEVCG_ACC_MKNOD
	if access != all {
		code = append(code,
			asm.Mov.Reg32(asm.R1, asm.R3),
			asm.And.Imm32(asm.R1, ^access),
			asm.JNE.Imm(asm.R1, 0, next),
		)
	}
	for _, n := range []struct {
		reg asm.Register
		num int64
	}{{asm.R4, d.major}, {asm.R5, d.minor}} {
		switch {
		case n.num == anyDevice:
		case n.num < 0 || n.num > math.MaxInt32:
			return nil, fmt.Errorf("device number %d is out of range", n.num)
		default:
			code = append(code, asm.JNE.Imm(n.reg, int32(n.num), next))
		}
	}
	verdict := int32(0)
	if d.allow {
		verdict = 1
	}
	return append(code, asm.Mov.Imm32(asm.R0, verdict), asm.Return()), nil
}

// attachDeviceFilter loads prog, from deviceFilter, into the kernel and
// attaches it to the v2 group at dir, for as long as the group exists.
//
// It is attached with BPF_PROG_ATTACH, not as a bpf_link: a link detaches
// its program when its last file descriptor closes, which would be when
// this berth process exits. BPF_F_ALLOW_MULTI lets it sit beside programs
// on the groups above (systemd attaches its own); a device access must then
// pass all of them.
func attachDeviceFilter(dir string, prog asm.Instructions) error {
	var code bytes.Buffer
	if err := prog.Marshal(&code, bpfByteOrder()); err != nil {
		return fmt.Errorf("encoding the device filter: %w", err)
	}
	progFd, err := bpfProgLoad(unix.BPF_PROG_TYPE_CGROUP_DEVICE, code.Bytes())
	if err != nil {
		return fmt.Errorf("loading the device filter: %w", err)
	}
	defer unix.Close(progFd)
	dirFd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("attaching the device filter: opening %s: %w", dir, err)
	}
	defer unix.Close(dirFd)
	if err := bpfProgAttach(dirFd, progFd, unix.BPF_CGROUP_DEVICE, unix.BPF_F_ALLOW_MULTI); err != nil {
		return fmt.Errorf("attaching the device filter to %s: %w", dir, err)
	}
	return nil
}

// bpfByteOrder is the host's byte order, which the kernel takes BPF
// instructions in. asm knows binary.LittleEndian and binary.BigEndian, not
// binary.NativeEndian.
func bpfByteOrder() binary.ByteOrder {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// bpfLicense is the program's license. It only decides whether a program
// may call GPL-only kernel helpers, and the device filter calls none.
var bpfLicense = []byte("\x00")

// bpfProgLoad is bpf(BPF_PROG_LOAD) for code, a program of type typ; it
// returns the program's file descriptor, which is close-on-exec.
//
// The call is made directly, not through github.com/cilium/ebpf's ebpf and
// link packages: their initialisation would cost every berth process about
// 1 ms (their BTF and ELF support pulls in debug/dwarf, compress/*,
// go/parser and more), to load one small program. Its asm package, which
// builds the program, costs 0.04 ms.
func bpfProgLoad(typ uint32, code []byte) (int, error) {
	if len(code) == 0 || len(code)%asm.InstructionSize != 0 {
		return -1, fmt.Errorf("program of %d bytes is not a whole number of instructions", len(code))
	}
	// The leading fields of union bpf_attr for BPF_PROG_LOAD; the kernel
	// takes those not given as zero.
	attr := struct {
		progType    uint32
		insnCnt     uint32
		insns       uint64
		license     uint64
		logLevel    uint32
		logSize     uint32
		logBuf      uint64
		kernVersion uint32
		progFlags   uint32
	}{
		progType: typ,
		insnCnt:  uint32(len(code) / asm.InstructionSize),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&bpfLicense[0]))),
	}
	for attempt := 1; ; attempt++ {
		fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		// The kernel reads code and the license during the call; they are
		// on the heap, which does not move, and must not be freed before
		// it ends.
		goruntime.KeepAlive(code)
		goruntime.KeepAlive(bpfLicense)
		// A signal interrupts the verifier with EAGAIN (Linux >= 4.20),
		// and Go's scheduler sends SIGURG to preempt goroutines.
		if errno == unix.EAGAIN && attempt < 100 {
			continue
		}
		if errno != 0 {
			return -1, bpfError("BPF_PROG_LOAD", errno)
		}
		return int(fd), nil
	}
}

// bpfProgAttach is bpf(BPF_PROG_ATTACH): it attaches program progFd to the
// target targetFd (a cgroup directory) at attachType.
func bpfProgAttach(targetFd, progFd int, attachType, flags uint32) error {
	attr := struct {
		targetFd    uint32
		attachBpfFd uint32
		attachType  uint32
		attachFlags uint32
	}{uint32(targetFd), uint32(progFd), attachType, flags}
	_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return bpfError("BPF_PROG_ATTACH", errno)
	}
	return nil
}

func bpfError(cmd string, errno unix.Errno) error {
	if errors.Is(errno, unix.EPERM) {
		return fmt.Errorf("%s: %w (it needs CAP_BPF and CAP_SYS_ADMIN, or CAP_SYS_ADMIN before Linux 5.8)", cmd, errno)
	}
	return fmt.Errorf("%s: %w", cmd, errno)
}
