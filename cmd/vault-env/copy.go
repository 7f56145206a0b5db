package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CopyDirsEnv names the directories (comma-separated, relative to DIR) that
// `vault-env copy DIR` creates after the copy: the mount points of the
// volumes the webhook mounts below /vault (the Vault CA at tls, a token
// volume at token, the Vault Agent's files at secrets). The containers that
// run vault-env mount DIR read-only, so their runtime could not create them.
const CopyDirsEnv = "VAULT_ENV_COPY_DIRS"

// makeMountPoints creates each directory of list (see CopyDirsEnv) below
// dir, mode 0755.
func makeMountPoints(dir, list string) error {
	for _, d := range strings.Split(list, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		if !filepath.IsLocal(d) {
			return fmt.Errorf("failed to create mount point %q (%s): not a relative directory below the copy directory", d, CopyDirsEnv)
		}
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("failed to create mount point: %w", err)
		}
	}
	return nil
}

// copySelf copies the running executable to dir/vault-env with mode 0555,
// through a temporary file in dir and a rename, so a reader never sees a
// partial file.
func copySelf(dir string) (err error) {
	src, err := os.Executable()
	if err != nil {
		return fmt.Errorf("failed to find own executable: %w", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("failed to open own executable: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".vault-env-*")
	if err != nil {
		return fmt.Errorf("failed to create file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, in); err != nil {
		return fmt.Errorf("failed to copy executable: %w", err)
	}
	if err = tmp.Chmod(0o555); err != nil {
		return fmt.Errorf("failed to set mode: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("failed to sync copy: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("failed to close copy: %w", err)
	}
	dst := filepath.Join(dir, "vault-env")
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("failed to rename copy to %s: %w", dst, err)
	}
	return nil
}
