package build

import (
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/berthproject/berth/image"
)

// finish makes the build's image from the target's state: named with the
// tags, or kept nameless, with --label's labels added.
func (b *builder) finish(st *stageState) (*image.Image, error) {
	cfg := cloneConfig(st.config)
	if len(b.o.Labels) > 0 {
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		maps.Copy(cfg.Labels, b.o.Labels)
	}
	var img *image.Image
	if st.img != nil && reflect.DeepEqual(st.img.Config, cfg) && len(b.o.Tags) == 0 {
		img = st.img
	} else {
		if err := st.ensure(b.store); err != nil {
			return nil, err
		}
		file := *st.file
		file.Config = cfg
		var err error
		if img, err = b.store.WriteImage(&file, st.layers, b.o.Tags...); err != nil {
			return nil, err
		}
	}
	if len(b.o.Tags) == 0 {
		if err := b.store.Keep(img); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(b.out, "COMMIT %s\n--> %s\n", strings.Join(b.o.Tags, " "), shortID(img.ID))
	for _, n := range img.Names {
		fmt.Fprintf(b.out, "Successfully tagged %s\n", n)
	}
	return img, nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
