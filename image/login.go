//go:build registry

package image

import (
	"context"
	"fmt"
	"net/http"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// dockerHubAuthKey is where Docker keeps Docker Hub's credentials.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// Login checks user and password against registry and, when it accepts
// them, stores them as Docker does (~/.docker/config.json, or its
// credential helper), so docker and berth share them.
func Login(ctx context.Context, registry, user, password string) error {
	cfg, err := loadRegistryConfig()
	if err != nil {
		return err
	}
	reg, err := parseRegistry(ctx, registry, cfg)
	if err != nil {
		return err
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, newRegistryTransport(cfg), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return registryError("logging in to", reg.Repo("library").Tag("latest"), err)
	}
	// A registry with basic auth only says no on a request: ask for /v2/.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return registryError("logging in to", reg.Repo("library").Tag("latest"), err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("logging in to %s: the registry refused user %q: %w", reg.RegistryStr(), user, ErrUnauthorized)
	}
	cf, err := config.Load(config.Dir())
	if err != nil {
		return fmt.Errorf("reading %s: %w", cf.Filename, err)
	}
	key := authKey(reg)
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{ServerAddress: key, Username: user, Password: password}); err != nil {
		return fmt.Errorf("storing credentials for %s: %w", key, err)
	}
	return cf.Save()
}

// Logout forgets the credentials stored for registry.
func Logout(registry string) error {
	reg, err := parseRegistry(context.Background(), registry, nil)
	if err != nil {
		return err
	}
	cf, err := config.Load(config.Dir())
	if err != nil {
		return fmt.Errorf("reading %s: %w", cf.Filename, err)
	}
	key := authKey(reg)
	if _, ok := cf.AuthConfigs[key]; !ok && cf.CredentialsStore == "" {
		return fmt.Errorf("not logged in to %s", key)
	}
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return fmt.Errorf("removing credentials for %s: %w", key, err)
	}
	return cf.Save()
}

// parseRegistry reads a registry host as Docker does (empty is Docker Hub);
// insecure registries (cfg.insecure) may speak plain HTTP.
func parseRegistry(ctx context.Context, s string, cfg *registryConfig) (name.Registry, error) {
	if s == "" {
		s = name.DefaultRegistry
	}
	var opts []name.Option
	if cfg.insecure(ctx, s) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(s, opts...)
	if err != nil {
		return name.Registry{}, &NameError{Name: s, Err: err}
	}
	return reg, nil
}

func authKey(reg name.Registry) string {
	if reg.RegistryStr() == name.DefaultRegistry {
		return dockerHubAuthKey
	}
	return reg.RegistryStr()
}
