package containerinit

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// execUser is who the workload runs as.
type execUser struct {
	Uid    uint32
	Gid    uint32
	Groups []uint32 // supplementary groups
	Home   string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// lookupUser resolves a Docker-style user spec (name, uid, name:group,
// uid:gid, ...) through the container's passwd and group files, as Docker
// does: a uid without a passwd entry runs with gid 0 and home "/", a name
// without one is an error, and the supplementary groups are every group
// that lists the user as a member.
func lookupUser(spec, passwdPath, groupPath string) (execUser, error) {
	users, err := readPasswd(passwdPath)
	if err != nil {
		return execUser{}, err
	}
	groups, err := readGroup(groupPath)
	if err != nil {
		return execUser{}, err
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	u := execUser{Home: "/"}
	var name string
	if uid, err := parseID(userPart); err == nil {
		u.Uid = uid
		if e, ok := findUserByID(users, uid); ok {
			u.Gid, u.Home, name = e.gid, e.home, e.name
		}
	} else {
		e, ok := findUserByName(users, userPart)
		if !ok {
			return execUser{}, &initError{ExitSetupFailed, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)}
		}
		u.Uid, u.Gid, u.Home, name = e.uid, e.gid, e.home, e.name
	}
	if hasGroup {
		gid, err := resolveGroup(groups, groupPart)
		if err != nil {
			return execUser{}, err
		}
		u.Gid = gid
	}
	if name != "" {
		for _, g := range groups {
			for _, m := range g.members {
				if m == name && g.gid != u.Gid {
					u.Groups = append(u.Groups, g.gid)
				}
			}
		}
	}
	if u.Home == "" {
		u.Home = "/"
	}
	return u, nil
}

func resolveGroup(groups []groupEntry, spec string) (uint32, error) {
	if gid, err := parseID(spec); err == nil {
		return gid, nil
	}
	for _, g := range groups {
		if g.name == spec {
			return g.gid, nil
		}
	}
	return 0, &initError{ExitSetupFailed, fmt.Errorf("unable to find group %s: no matching entries in group file", spec)}
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

func findUserByID(users []passwdEntry, uid uint32) (passwdEntry, bool) {
	for _, e := range users {
		if e.uid == uid {
			return e, true
		}
	}
	return passwdEntry{}, false
}

func findUserByName(users []passwdEntry, name string) (passwdEntry, bool) {
	for _, e := range users {
		if e.name == name {
			return e, true
		}
	}
	return passwdEntry{}, false
}

// readPasswd parses an /etc/passwd; a missing file is an empty one.
func readPasswd(path string) ([]passwdEntry, error) {
	var out []passwdEntry
	err := readColonFile(path, func(f []string) {
		if len(f) < 6 {
			return
		}
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil {
			return
		}
		out = append(out, passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5]})
	})
	return out, err
}

// readGroup parses an /etc/group; a missing file is an empty one.
func readGroup(path string) ([]groupEntry, error) {
	var out []groupEntry
	err := readColonFile(path, func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, err := parseID(f[2])
		if err != nil {
			return
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	})
	return out, err
}

func readColonFile(path string, each func([]string)) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		each(strings.Split(line, ":"))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// Owner resolves spec as the workload's user is resolved (lookupUser),
// through the passwd and group files at those paths, and returns its uid
// and gid: berth watch gives what it syncs into a container to the
// container's user, as docker compose's sync (a tar run as that user)
// does.
func Owner(spec, passwdPath, groupPath string) (uid, gid uint32, err error) {
	u, err := lookupUser(spec, passwdPath, groupPath)
	return u.Uid, u.Gid, err
}
