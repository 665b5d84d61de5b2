// Command pause is the pod sandbox's process: it holds the pod's namespaces
// and exits on SIGINT or SIGTERM. The lab's pause image runs it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
