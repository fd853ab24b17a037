package runtime

import (
	"slices"
	"strconv"
	"testing"
)

func TestCgroupPidsLimit(t *testing.T) {
	tests := []struct {
		limit, want int64
	}{
		{0, 0},
		{-1, 0},
		{1, 1},
		{100, 100},
	}
	for _, tt := range tests {
		r := Resources{PidsLimit: tt.limit}
		if got := pidsLimit(r); got != tt.want {
			t.Errorf("pidsLimit(%d) = %d, want %d", tt.limit, got, tt.want)
		}
		var want []cgroupSetting
		if tt.want != 0 {
			want = []cgroupSetting{{file: "pids.max", value: strconv.FormatInt(tt.want, 10)}}
		}
		if got := pidsSettings(r); !slices.Equal(got, want) {
			t.Errorf("pidsSettings(%d) = %+v, want %+v", tt.limit, got, want)
		}
	}
}
