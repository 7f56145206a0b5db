//go:build !linux

package main

func setNotDumpable() error { return nil }
