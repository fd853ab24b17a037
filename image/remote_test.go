//go:build registry

package image

import (
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// testRegistry is a docker-registry process on 127.0.0.1 with its own
// storage directory.
type testRegistry struct {
	host    string // 127.0.0.1:PORT
	storage string // its filesystem rootdirectory
}

// startRegistry starts Debian's docker-registry on a free port (see
// testutil.StartRegistry).
func startRegistry(t *testing.T) *testRegistry {
	r := testutil.StartRegistry(t)
	return &testRegistry{host: r.Host, storage: r.Storage}
}

func (r *testRegistry) blobFile(hex string) string {
	return filepath.Join(r.storage, "docker/registry/v2/blobs/sha256", hex[:2], hex, "data")
}
