//go:build !linux

package envinject

func setNotDumpable() error { return nil }
