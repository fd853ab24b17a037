package main

import (
	"errors"
	"testing"
)

// onceLookup reads the store once a ref, errors included.
func TestOnceLookup(t *testing.T) {
	calls := map[string]int{}
	lookup := onceLookup(func(ref string) (imageInfo, error) {
		calls[ref]++
		if ref == "missing" {
			return imageInfo{}, errors.New("no such image")
		}
		return imageInfo{ID: "sha256:" + ref}, nil
	})
	for range 3 {
		if info, err := lookup("bb"); err != nil || info.ID != "sha256:bb" {
			t.Fatalf("lookup(bb) = %+v, %v", info, err)
		}
		if _, err := lookup("missing"); err == nil {
			t.Fatal("lookup(missing) found an image")
		}
	}
	if calls["bb"] != 1 || calls["missing"] != 1 {
		t.Errorf("store reads: %v, want one a ref", calls)
	}
}
