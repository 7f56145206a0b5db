package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

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
