//go:build !unix

package delivery

import "os/exec"

// setProcessGroup leaves cmd as it is: without Unix process groups,
// cancellation kills only the command itself.
func setProcessGroup(*exec.Cmd) {}
