package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestMounts(t *testing.T) {
	host := t.TempDir()
	cases := []struct {
		name         string
		volumes      []string
		tmpfs        []string
		imageVolumes []string
		want         string // mounts, then volumes; "" for an error
		err          string
	}{
		{name: "host directory", volumes: []string{host + ":/data:ro"}, want: "bind " + host + ":/data ro"},
		{name: "named volume", volumes: []string{"site:/srv/www/"}, want: "volume site:/srv/www"},
		{name: "named volume, options", volumes: []string{"site:/srv:ro,nocopy"}, want: "volume site:/srv ro nocopy"},
		{name: "anonymous volume", volumes: []string{"/scratch"}, want: "volume :/scratch"},
		{name: "image volumes", imageVolumes: []string{"/cache", "/data"}, want: "volume :/cache | volume :/data"},
		{
			name: "flags cover image volumes", volumes: []string{"site:/data"}, tmpfs: []string{"/cache/"},
			imageVolumes: []string{"/cache", "/data", "/logs"}, want: "tmpfs /cache | volume site:/data | volume :/logs",
		},
		{name: "parents first", volumes: []string{host + ":/a/b/c", host + ":/a"}, tmpfs: []string{"/a/b"}, want: "bind " + host + ":/a | tmpfs /a/b | bind " + host + ":/a/b/c"},
		{name: "relative host path", volumes: []string{"./data:/d"}, err: `the host path "./data" must be absolute`},
		{name: "path with a slash", volumes: []string{"data/x:/d"}, err: "must be absolute"},
		{name: "invalid name", volumes: []string{"x:/d"}, err: `invalid volume name "x"`},
		{name: "relative container path", volumes: []string{"site:d"}, err: "must be absolute"},
		{name: "on /", volumes: []string{"site:/"}, err: "not /"},
		{name: "anonymous relative", volumes: []string{"scratch"}, err: "absolute container path"},
		{name: "unknown option", volumes: []string{"site:/d:rx"}, err: `unknown option "rx"`},
		{name: "nocopy on a host path", volumes: []string{host + ":/d:nocopy"}, err: "nocopy is for volumes"},
		{name: "duplicate", volumes: []string{"site:/d", "/d/"}, err: "duplicate mount point /d"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &runOptions{volumes: tc.volumes, tmpfs: tc.tmpfs}
			ms, vols, err := o.mounts(tc.imageVolumes)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				s := m.Type + " " + m.Destination
				if m.Type == "bind" {
					s = "bind " + m.Source + ":" + m.Destination
				}
				if m.ReadOnly {
					s += " ro"
				}
				got = append(got, s)
			}
			for _, v := range vols {
				s := fmt.Sprintf("volume %s:%s", v.Name, v.Destination)
				if v.ReadOnly {
					s += " ro"
				}
				if v.NoCopy {
					s += " nocopy"
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(strings.Join(got, " | "), tc.want) {
				t.Errorf("got  %s\nwant %s", strings.Join(got, " | "), tc.want)
			}
		})
	}
}
