package runtime

import (
	"fmt"
	"os"
	"path/filepath"
)

// Rename gives c the name name, as docker rename does: the new name is
// claimed first, config.json rewritten, then the old name let go, so a
// crash leaves the container under one of the two. The engine renames a
// replica it replaces start-first, so the new one can take its name
// while it still runs.
func (m *Manager) Rename(c *Container, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	if name == c.Name() {
		return nil
	}
	claim, err := m.claim(name, c.ID)
	if err != nil {
		return err
	}
	// c has its config.json: the claim is no create's to guard.
	claim.Close()
	old := c.Config.Name
	c.Config.Name = name
	if err := writeJSONAtomic(filepath.Join(c.Dir, "config.json"), c, true); err != nil {
		c.Config.Name = old
		m.releaseName(name, c.ID)
		return fmt.Errorf("renaming container %s: %w", old, err)
	}
	m.releaseName(old, c.ID)
	return nil
}

// MarkStopping notes that c is about to be stopped, before any signal:
// a restart policy leaves it be, and the DNS server stops answering for
// it, so clients drain away from it first.
func (m *Manager) MarkStopping(c *Container) error {
	if err := os.WriteFile(filepath.Join(c.Dir, stopFile), nil, 0o600); err != nil {
		return fmt.Errorf("stopping container %s: %w", c.Name(), err)
	}
	return nil
}
