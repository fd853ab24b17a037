package spec

import (
	"io"
	"os"
	"testing"

	"github.com/sirupsen/logrus"
)

// TestMain silences compose-go's logger: it warns through logrus of the
// obsolete `version`, which Load also returns as a Warning.
func TestMain(m *testing.M) {
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}
