package runtime

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Generated names read like Docker's ("quiet_hopper"): an adjective and a
// name from the history of computing and shipping.
var (
	nameLeft = []string{
		"able", "bold", "brave", "calm", "clever", "eager", "fair", "gentle",
		"happy", "keen", "kind", "lively", "lucid", "merry", "modest", "nimble",
		"noble", "patient", "proud", "quiet", "rapid", "serene", "sharp",
		"steady", "swift", "tidy", "vivid", "wise", "witty", "zen",
	}
	nameRight = []string{
		"babbage", "bell", "cerf", "curie", "dijkstra", "euler", "fermi",
		"hamilton", "hopper", "kay", "knuth", "lamport", "liskov", "lovelace",
		"mccarthy", "noether", "pike", "ritchie", "shannon", "thompson",
		"torvalds", "turing", "wirth", "anchor", "harbor", "keel", "mast",
		"pier", "quay", "wharf",
	}
)

// randomName returns a fresh generated name; after a few collisions it
// grows a number, so the retry loop always ends.
func randomName(attempt int) string {
	l := nameLeft[randIndex(len(nameLeft))]
	r := nameRight[randIndex(len(nameRight))]
	if attempt > 3 {
		return fmt.Sprintf("%s_%s%d", l, r, randIndex(1000))
	}
	return l + "_" + r
}

func randIndex(n int) int {
	var b [8]byte
	if randomBytes(b[:]) != nil {
		return 0
	}
	return int(binary.LittleEndian.Uint64(b[:]) % uint64(n))
}

// randomBytes fills b from the kernel's random pool. getrandom(2) directly,
// not crypto/rand: that package's FIPS machinery costs every berth process
// its initialisation, and ids and names need no more than the kernel gives.
func randomBytes(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Getrandom(b, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading random bytes: %w", err)
		}
		b = b[n:]
	}
	return nil
}
