package runtime

import "testing"

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
		v1 := pidsV1(r)
		if tt.want == 0 && v1 != nil || tt.want != 0 && (v1 == nil || *v1.Limit != tt.want) {
			t.Errorf("pidsV1(%d) = %+v, want limit %d (nil for none)", tt.limit, v1, tt.want)
		}
		if v2 := pidsV2(r); v2 == nil || v2.Max != tt.want {
			t.Errorf("pidsV2(%d) = %+v, want max %d", tt.limit, v2, tt.want)
		}
	}
}
