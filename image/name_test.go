package image

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestNormalizeName(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, want string }{
		{"busybox", "docker.io/library/busybox:latest"},
		{"library/busybox:1.36", "docker.io/library/busybox:1.36"},
		{"docker.io/busybox", "docker.io/library/busybox:latest"},
		{"index.docker.io/user/app:v2", "docker.io/user/app:v2"},
		{"localhost:5000/x/y:z", "localhost:5000/x/y:z"},
		{"localhost/x", "localhost/x:latest"},
		{"127.0.0.1:5000/a", "127.0.0.1:5000/a:latest"},
		{"[::1]:5000/a:b", "[::1]:5000/a:b"},
		{"registry.example.com/a@" + digest, "registry.example.com/a@" + digest},
		{"busybox:1.36@" + digest, "docker.io/library/busybox@" + digest},
		{"a/b-c__d.e--f:Tag_1.x-y", "docker.io/a/b-c__d.e--f:Tag_1.x-y"},
		{"Busybox", ""},
		{"registry.example.com/Team/app", ""},
		{"busybox:", ""},
		{"busybox:-x", ""},
		{"busybox:a:b", ""},
		{"a..b", ""},
		{"a___b", ""},
		{"-a", ""},
		{"a-", ""},
		{"a//b", ""},
		{"", ""},
		{"https://registry.example.com/a", ""},
		{"registry.example.com/a@sha256:short", ""},
		{"registry.example.com/a@md5:" + strings.Repeat("a", 32), ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeName(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), "invalid image name") {
					t.Errorf("NormalizeName(%q) = %q, %v; want ErrInvalidName", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("NormalizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			// go-containerregistry, which pull and push will use, must
			// read the name the same way.
			r, err := name.ParseReference(tc.in)
			if err != nil {
				t.Fatalf("name.ParseReference(%q): %v", tc.in, err)
			}
			if ggcr := strings.Replace(r.Name(), "index.docker.io/", "docker.io/", 1); ggcr != got {
				t.Errorf("go-containerregistry reads %q as %q, we as %q", tc.in, ggcr, got)
			}
		})
	}
}

func TestLayoutConstants(t *testing.T) {
	if annotationRefName != ispec.AnnotationRefName || imageLayoutFile != ispec.ImageLayoutFile || imageLayoutVersion != ispec.ImageLayoutVersion {
		t.Errorf("our OCI layout constants differ from image-spec's")
	}
}
