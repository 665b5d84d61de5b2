// CoreDNS v1.12.2 with the plugins the Gateway API conformance suite's
// Corefile names (forward, log, errors, whoami), built here because no
// registry is reachable; the lab imports it under the upstream image name.
// The directive order is CoreDNS's own (plugin.cfg), restricted to these.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/whoami"
)

func init() {
	dnsserver.Directives = []string{"errors", "log", "forward", "whoami"}
}

func main() {
	coremain.Run()
}
