package main

import "syscall"

// setNotDumpable marks vault-env non-dumpable: no core dump, and
// processes of the same uid (the application) cannot ptrace it or read its
// /proc/PID/{mem,environ}, where the token lives in daemon mode. execve
// resets the flag, so the application itself is unaffected.
func setNotDumpable() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
