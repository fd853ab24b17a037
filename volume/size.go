package volume

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// Size adds up the regular files in v's data, a file with several hard
// links once: the apparent size, as `docker system df` reports it.
func Size(v *Volume) int64 {
	var n int64
	seen := map[uint64]bool{}
	_ = filepath.WalkDir(v.Mountpoint(), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		n += info.Size()
		return nil
	})
	return n
}
