package build

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// parseChmod reads --chmod's octal mode ("" is none).
func parseChmod(s string) (*fs.FileMode, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return nil, fmt.Errorf("--chmod=%s: not an octal mode like 755 or 0644", s)
	}
	m := fs.FileMode(n)
	return &m, nil
}

// resolveChown reads --chown's user[:group] as BuildKit does: numbers as
// they are (a lone uid is also the gid), names from the image's
// /etc/passwd and /etc/group (a lone user name takes its primary group).
// "" is none.
func resolveChown(root, spec string) (*owner, error) {
	if spec == "" {
		return nil, nil
	}
	user, group, hasGroup := strings.Cut(spec, ":")
	o := &owner{}
	if n, err := strconv.Atoi(user); err == nil {
		o.uid, o.gid = n, n
	} else {
		uid, gid, err := lookupID(root, "/etc/passwd", user)
		if err != nil {
			return nil, fmt.Errorf("--chown=%s: %w", spec, err)
		}
		o.uid, o.gid = uid, gid
	}
	if hasGroup {
		if n, err := strconv.Atoi(group); err == nil {
			o.gid = n
		} else {
			gid, _, err := lookupID(root, "/etc/group", group)
			if err != nil {
				return nil, fmt.Errorf("--chown=%s: %w", spec, err)
			}
			o.gid = gid
		}
	}
	return o, nil
}

// lookupID finds name in the image's passwd or group file: its id (third
// field) and, for passwd, its primary group (fourth).
func lookupID(root, file, name string) (id, gid int, err error) {
	p, err := securejoin.SecureJoin(root, file)
	if err != nil {
		return 0, 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, 0, fmt.Errorf("looking up %q: the image has no %s", name, file)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || fields[0] != name {
			continue
		}
		id, err := strconv.Atoi(fields[2])
		if err != nil {
			continue
		}
		gid := id
		if len(fields) > 3 {
			if g, err := strconv.Atoi(fields[3]); err == nil {
				gid = g
			}
		}
		return id, gid, nil
	}
	return 0, 0, fmt.Errorf("no %q in the image's %s", name, file)
}
