package volume

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

const metaFile = "volume.json"

// writeMeta writes dir/volume.json atomically: a temporary file, fsync,
// rename, fsync of dir.
func writeMeta(dir string, v *Volume) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+metaFile+"-")
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, metaFile))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", metaFile, err)
	}
	return syncDir(dir)
}

func readMeta(dir string) (*Volume, error) {
	data, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	v := &Volume{}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, metaFile), err)
	}
	return v, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// randomHex returns n random bytes as hex. getrandom(2) directly, not
// crypto/rand, whose initialisation every berth process would pay for.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	for off := 0; off < n; {
		got, err := unix.Getrandom(b[off:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading random bytes: %w", err)
		}
		off += got
	}
	return hex.EncodeToString(b), nil
}
