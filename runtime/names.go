package runtime

import (
	"crypto/rand"
	"fmt"
	"math/big"
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
	i, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return int(i.Int64())
}
