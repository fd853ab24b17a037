package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCgroupDefaultDevices(t *testing.T) {
	var got []string
	for _, r := range defaultDevices() {
		got = append(got, r.String())
	}
	want := []string{
		"deny a *:* rwm",
		"allow c *:* m",
		"allow b *:* m",
		"allow c 1:3 rwm",
		"allow c 1:5 rwm",
		"allow c 1:7 rwm",
		"allow c 1:8 rwm",
		"allow c 1:9 rwm",
		"allow c 5:0 rwm",
		"allow c 5:1 rwm",
		"allow c 5:2 rwm",
		"allow c 136:* rwm",
	}
	if !slices.Equal(got, want) {
		t.Errorf("defaultDevices() =\n%q\nwant\n%q", got, want)
	}
}

// TestCgroupDeviceFilter runs the v2 device filter compiled from the
// default rules, as the kernel would get it, on device accesses.
func TestCgroupDeviceFilter(t *testing.T) {
	prog, err := deviceFilter(defaultDevices())
	if err != nil {
		t.Fatal(err)
	}
	var code bytes.Buffer
	if err := prog.Marshal(&code, bpfByteOrder()); err != nil {
		t.Fatal(err)
	}
	const (
		c, b       = unix.BPF_DEVCG_DEV_CHAR, unix.BPF_DEVCG_DEV_BLOCK
		r, w, m    = unix.BPF_DEVCG_ACC_READ, unix.BPF_DEVCG_ACC_WRITE, unix.BPF_DEVCG_ACC_MKNOD
		allow, den = true, false
	)
	tests := []struct {
		name         string
		typ, access  uint32
		major, minor uint32
		want         bool
	}{
		{"read /dev/null", c, r, 1, 3, allow},
		{"read and write /dev/null", c, r | w, 1, 3, allow},
		{"mknod /dev/null", c, m, 1, 3, allow},
		{"write /dev/urandom", c, w, 1, 9, allow},
		{"open /dev/ptmx", c, r | w, 5, 2, allow},
		{"open a pts", c, r | w, 136, 7, allow},
		{"read /dev/kmsg", c, r, 1, 11, den},
		{"mknod /dev/kmsg", c, m, 1, 11, allow},
		{"open /dev/mem", c, r | w, 1, 1, den},
		{"open /dev/tty1", c, r | w, 4, 1, den},
		{"open /dev/net/tun", c, r | w, 10, 200, den},
		{"read a disk", b, r, 8, 0, den},
		{"mknod a disk", b, m, 8, 0, allow},
		{"read block 1:3, not /dev/null", b, r, 1, 3, den},
		{"read and mknod /dev/kmsg at once", c, r | m, 1, 11, den},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runDeviceFilter(code.Bytes(), tt.access<<16|tt.typ, tt.major, tt.minor)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("filter says allowed=%v, want %v", got, tt.want)
			}
		})
	}
}

// runDeviceFilter interprets the instructions deviceFilter uses on a
// struct bpf_cgroup_dev_ctx, and tells whether the program allows the
// access.
func runDeviceFilter(code []byte, accessType, major, minor uint32) (bool, error) {
	ctx := [3]uint32{accessType, major, minor}
	var reg [11]uint64
	for pc := 0; pc*8 < len(code); pc++ {
		ins := code[pc*8 : pc*8+8]
		op, dst, src := ins[0], ins[1]&0xf, ins[1]>>4
		off := int16(binary.NativeEndian.Uint16(ins[2:]))
		imm := int32(binary.NativeEndian.Uint32(ins[4:]))
		jump := func(cond bool) {
			if cond {
				pc += int(off)
			}
		}
		switch op {
		case 0x61: // ldxw dst, [src+off]
			if src != 1 || off%4 != 0 || off < 0 || off > 8 {
				return false, fmt.Errorf("instruction %d loads from r%d%+d", pc, src, off)
			}
			reg[dst] = uint64(ctx[off/4])
		case 0x54: // and32 dst, imm
			reg[dst] = uint64(uint32(reg[dst]) & uint32(imm))
		case 0x74: // rsh32 dst, imm
			reg[dst] = uint64(uint32(reg[dst]) >> uint32(imm))
		case 0xbc: // mov32 dst, src
			reg[dst] = uint64(uint32(reg[src]))
		case 0xb4: // mov32 dst, imm
			reg[dst] = uint64(uint32(imm))
		case 0x55: // jne dst, imm
			jump(reg[dst] != uint64(int64(imm)))
		case 0x95: // exit
			return reg[0] == 1, nil
		default:
			return false, fmt.Errorf("instruction %d: opcode %#x is not interpreted here", pc, op)
		}
	}
	return false, errors.New("program runs past its end")
}

// checkDevicesEnforced runs a shell in cg and checks that it may read
// /dev/null but not /dev/kmsg (c 1:11), which the default rules leave out.
func checkDevicesEnforced(t *testing.T, cg cgroup) {
	t.Helper()
	if f, err := os.Open("/dev/kmsg"); err != nil {
		t.Skipf("cannot open /dev/kmsg outside the cgroup either: %v", err)
	} else {
		f.Close()
	}
	// The shell waits for a line on stdin, so that it opens the devices
	// only once it is in the group.
	cmd := exec.Command("sh", "-c", `
read _ || exit 2
cat /dev/null || exit 3
(: </dev/kmsg) 2>/dev/null && exit 4
exit 0`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := cg.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		t.Error("/dev/null (c 1:3) is denied in the group")
	case errors.As(err, &exit) && exit.ExitCode() == 4:
		t.Error("/dev/kmsg (c 1:11) is allowed in the group")
	default:
		t.Errorf("device check shell: %v", err)
	}
}
