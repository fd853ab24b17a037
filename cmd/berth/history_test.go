package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berthproject/berth/image"
)

func TestHistoryRows(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) v1.Time { return v1.Time{Time: now.Add(-ago)} }
	hist := []v1.History{
		{Created: at(72 * time.Hour), CreatedBy: "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789abcdef in / "},
		{Created: at(72 * time.Hour), CreatedBy: "/bin/sh -c #(nop)  CMD [\"sh\"]", EmptyLayer: true},
		{Created: at(5 * time.Minute), CreatedBy: "berth commit", Comment: "tab\there"},
	}
	layers := []image.Layer{{Size: 4_260_000}, {Size: 6}}
	id := "sha256:" + strings.Repeat("ab", 32)

	rows := historyRows(id, hist, layers, &historyOptions{human: true}, now)
	want := []historyRow{
		{ID: "abababababab", CreatedSince: "5 minutes ago", CreatedBy: "berth commit", Size: "6B", Comment: "tab\there"},
		{ID: "<missing>", CreatedSince: "3 days ago", CreatedBy: `/bin/sh -c #(nop)  CMD ["sh"]`, Size: "0B"},
		{ID: "<missing>", CreatedSince: "3 days ago", CreatedBy: "/bin/sh -c #(nop) ADD file:0123456789abcdef0…", Size: "4.26MB"},
	}
	for i := range rows {
		rows[i].CreatedAt = "" // the local time zone's
	}
	if !slices.Equal(rows, want) {
		t.Errorf("rows:\n%+v\nwant:\n%+v", rows, want)
	}
	if n := len([]rune(want[2].CreatedBy)); n != 45 {
		t.Errorf("a truncated CREATED BY is %d characters, want docker's 45", n)
	}

	rows = historyRows(id, hist, layers, &historyOptions{noTrunc: true}, now)
	if rows[0].ID != id || rows[2].CreatedBy != hist[0].CreatedBy || rows[2].Size != "4260000" || rows[0].CreatedAt != rows[0].CreatedSince {
		t.Errorf("--no-trunc --human=false: %+v", rows)
	}
}

func TestCLI_History(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb:1")
	id := strings.TrimSpace(c.must("images", "-q", "--no-trunc"))

	out := c.must("history", "bb:1")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	header := lines[0]
	for _, col := range []string{"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"} {
		if !strings.Contains(header, col) {
			t.Errorf("history header %q lacks %s", header, col)
		}
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[1], id[7:19]+"   ") || !strings.Contains(lines[1], "berth image import") || !strings.Contains(lines[1], " ago ") {
		t.Errorf("history:\n%s", out)
	}
	// Columns line up under their headers.
	if i := strings.Index(header, "CREATED BY"); !strings.HasPrefix(lines[1][i:], "berth image import") {
		t.Errorf("CREATED BY is not under its header:\n%s", out)
	}

	if q := c.must("history", "-q", "--no-trunc", "bb:1"); q != id+"\n" {
		t.Errorf("history -q --no-trunc = %q, want %q", q, id)
	}
	var row map[string]string
	if err := json.Unmarshal([]byte(c.must("history", "--format", "json", "bb:1")), &row); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size"} {
		if _, ok := row[k]; !ok {
			t.Errorf("history --format json lacks %s: %v", k, row)
		}
	}
	if _, err := time.Parse(time.RFC3339, row["CreatedAt"]); err != nil || row["ID"] != id[7:19] {
		t.Errorf("history --format json: %v (%v)", row, err)
	}
	if got := c.must("history", "--format", "{{.ID}}|{{.Size}}", "bb:1"); !strings.HasPrefix(got, id[7:19]+"|") {
		t.Errorf("history --format TEMPLATE = %q", got)
	}
	if _, errs, code := c.run("history", "nosuch"); code != 1 || !strings.Contains(errs, "nosuch") {
		t.Errorf("history of a missing image: exit %d, %q", code, errs)
	}
	if _, _, code := c.run("history", "--format", "{{.Nope", "bb:1"); code != 2 {
		t.Errorf("a bad --format template: exit %d, want 2", code)
	}
}
